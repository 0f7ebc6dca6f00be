"""
title: Task Pipe
"""


class Pipe:
    async def pipe(self, body: dict, __task__=None, __task_body__=None, __event_emitter__=None):
        if __task__ == "title_generation":
            return 'Sure! {"title": "Weather Chat"} hope that helps'
        if __task__ == "tags_generation":
            return {
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "content": "",
                            "reasoning_content": '{"tags": ["Weather", "Travel"]}',
                        }
                    }
                ]
            }
        if __task__ == "follow_up_generation":
            return '{"follow_ups": ["a?", "b?", "c?", "d?", "e?", "f?", ""]}'
        if __task__:
            return "no json at all"
        return "normal answer"
