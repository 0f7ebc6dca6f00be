"""Who may see and use which model, as Open WebUI 0.12.4 decides it (`utils/models.py`
`get_filtered_models` / `check_model_access`).

- `BYPASS_MODEL_ACCESS_CONTROL` on: everyone sees and uses every model.
- Admins: everything, while `BYPASS_ADMIN_ACCESS_CONTROL` is on (its default); otherwise the
  rules below apply to them too, except that a model without a workspace entry stays theirs.
- Users: a model only when it has a workspace entry (`POST /api/v1/models/create`) that they
  own or that grants them `read`: `{"principal_type": "user", "principal_id": <their id> or "*"}`
  or `{"principal_type": "group", "principal_id": <a group of theirs>}`. A pipe model with no
  entry is invisible (`{"data": []}`), and chatting with it is `400 {"detail": "Model not
  found"}`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PRINCIPAL_TYPES = frozenset({"user", "group", "anyone"})
PERMISSIONS = frozenset({"read", "write"})


def env_flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() == "true"


@dataclass
class ModelEntry:
    """A workspace model entry: its owner and its access grants."""

    id: str
    owner: str
    grants: list[dict[str, str]] = field(default_factory=list)

    def readable_by(self, user_id: str, groups: set[str]) -> bool:
        if user_id == self.owner:
            return True
        for grant in self.grants:
            if grant.get("permission") != "read":
                continue
            kind, who = grant.get("principal_type"), grant.get("principal_id")
            if kind == "user" and who in ("*", user_id):
                return True
            if kind == "group" and who in groups:
                return True
        return False


def normalize_grants(grants: Any) -> list[dict[str, str]]:
    """Keep the valid grants, once each (Open WebUI drops the rest silently)."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for grant in grants if isinstance(grants, list) else []:
        if not isinstance(grant, dict):
            continue
        kind, who, perm = (grant.get(k) for k in ("principal_type", "principal_id", "permission"))
        if kind not in PRINCIPAL_TYPES or perm not in PERMISSIONS or not isinstance(who, str):
            continue
        if not who or (kind == "anyone" and (who != "*" or perm != "read")):
            continue
        out[(kind, who, perm)] = {"principal_type": kind, "principal_id": who, "permission": perm}
    return list(out.values())


@dataclass
class ModelAccess:
    bypass_model_access_control: bool = False
    bypass_admin_access_control: bool = True
    entries: dict[str, ModelEntry] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # user id -> group ids

    @classmethod
    def from_env(cls, **kwargs: Any) -> ModelAccess:
        return cls(
            bypass_model_access_control=env_flag("BYPASS_MODEL_ACCESS_CONTROL", False),
            bypass_admin_access_control=env_flag("BYPASS_ADMIN_ACCESS_CONTROL", True),
            **kwargs,
        )

    def _unchecked(self, role: str) -> bool:
        if self.bypass_model_access_control:
            return True
        return role == "admin" and self.bypass_admin_access_control

    def may_use(self, model_id: str, user_id: str, role: str) -> bool:
        if self._unchecked(role):
            return True
        entry = self.entries.get(model_id)
        if entry is None:
            return role == "admin"  # no entry: no access control configured yet
        return entry.readable_by(user_id, set(self.groups.get(user_id, [])))

    def visible(self, models: list[dict[str, Any]], user_id: str, role: str) -> list[dict]:
        return [m for m in models if self.may_use(str(m.get("id")), user_id, role)]
