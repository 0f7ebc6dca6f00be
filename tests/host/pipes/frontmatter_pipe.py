"""
title: Frontmatter Pipe
author: Jane Doe
author_url: https://example.com
version: 1.2.3
license: MIT
description: Exercises frontmatter and the import rewriting.
requirements: nonexistent-pkg==9.9, other_pkg
required-open-webui-version: 0.12.0
funding_url2: digits stop the key
"""

NOTE = "loaded from config file, from mainstream"


class Pipe:
    def pipe(self, body: dict):
        return NOTE
