"""How a conversation becomes a string, for the formats that want strings.

    >>> prompt_text([{"role": "user", "content": "Hi"}])
    'Hi'
    >>> hh_transcript([{"role": "user", "content": "Hi"}], "Hello.")
    '\\n\\nHuman: Hi\\n\\nAssistant: Hello.'

A single user turn is its own content. Longer conversations are written as an Anthropic
HH-RLHF transcript ending with "\\n\\nAssistant: ", so that prompt + completion is exactly the
HH transcript of the exchange.
"""
from __future__ import annotations

SPEAKER = {"user": "Human", "assistant": "Assistant", "system": "System"}


def transcript(conversation: list[dict]) -> str:
    return "".join(f"\n\n{SPEAKER[m['role']]}: {m['content']}" for m in conversation)


def prompt_text(conversation: list[dict]) -> str:
    if len(conversation) == 1 and conversation[0]["role"] == "user":
        return conversation[0]["content"]
    return transcript(conversation) + "\n\nAssistant: "


def hh_transcript(conversation: list[dict], completion: str) -> str:
    return transcript(conversation) + f"\n\nAssistant: {completion}"


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]
