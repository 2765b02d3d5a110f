"""Drives a sandgate sandbox with the official OpenAI Python SDK, unmodified.

Usage: openai_sdk_check.py direct <port> <token>
       openai_sdk_check.py proxy           (HTTPS_PROXY and SSL_CERT_FILE set by the caller)
Prints one JSON object with what it saw; exits non-zero on any SDK error.
"""
import json
import sys

from openai import OpenAI


def run(client):
    models = [m.id for m in client.models.list()]
    completion = client.chat.completions.create(
        model="ignored-by-the-gateway",
        messages=[{"role": "user", "content": "hello from the sdk"}],
    )
    pieces, usage = [], None
    stream = client.chat.completions.create(
        model="ignored-by-the-gateway",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage.total_tokens
    return {
        "models": models,
        "completion": completion.choices[0].message.content,
        "completion_model": completion.model,
        "stream_pieces": len(pieces),
        "stream_text": "".join(pieces),
        "stream_usage_total": usage,
    }


def main():
    mode = sys.argv[1]
    if mode == "direct":
        port, token = sys.argv[2], sys.argv[3]
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0)
    else:
        # Only HTTPS_PROXY and SSL_CERT_FILE come from the environment.
        client = OpenAI(base_url="https://inference.local/v1", api_key="sandbox-has-no-key", max_retries=0)
    print(json.dumps(run(client)))


if __name__ == "__main__":
    main()
