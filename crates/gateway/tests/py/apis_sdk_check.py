"""Drives a sandgate sandbox's Responses and Anthropic Messages surfaces with the official
OpenAI and Anthropic Python SDKs, unmodified, through `https://inference.local` (only
HTTPS_PROXY and SSL_CERT_FILE come from the environment).

Usage: apis_sdk_check.py <marker> <force-tools: 0|1>
Prints one JSON object with what it saw; exits non-zero on any SDK error.
"""
import json
import sys

import anthropic
import httpx
from openai import OpenAI

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def responses(force):
    client = OpenAI(base_url="https://inference.local/v1", api_key="unused", max_retries=0)
    out = {}
    r = client.responses.create(model="ignored", input="hello from the sdk", instructions="be terse", max_output_tokens=64)
    out["responses_text"] = r.output_text
    out["responses_usage"] = r.usage.total_tokens
    events, text = [], []
    stream = client.responses.create(model="ignored", input=[{"role": "user", "content": "stream please"}], stream=True)
    for ev in stream:
        events.append(ev.type)
        if ev.type == "response.output_text.delta":
            text.append(ev.delta)
    out["responses_events"] = events
    out["responses_stream_text"] = "".join(text)
    tools = [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER}]
    first = client.responses.create(
        model="ignored", input="weather in Paris?", tools=tools,
        tool_choice="required" if force else "auto",
    )
    calls = [o for o in first.output if o.type == "function_call"]
    out["responses_tool_name"] = calls[0].name
    follow = [{"role": "user", "content": "weather in Paris?"}] + [c.model_dump() for c in calls]
    follow.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp_c": 21}'})
    second = client.responses.create(model="ignored", input=follow, tools=tools)
    out["responses_after_tool"] = second.output_text
    return out


def messages(force):
    # The SDK appends /v1/messages to the base URL, like OpenClaw's anthropic-messages.
    client = anthropic.Anthropic(base_url="https://inference.local", api_key="unused", max_retries=0)
    out = {}
    m = client.messages.create(
        model="ignored", max_tokens=64, system="be terse",
        messages=[{"role": "user", "content": "hello from the sdk"}],
    )
    out["messages_text"] = "".join(b.text for b in m.content if b.type == "text")
    out["messages_usage"] = m.usage.output_tokens
    out["messages_stop"] = m.stop_reason
    with client.messages.stream(
        model="ignored", max_tokens=64, messages=[{"role": "user", "content": "stream please"}]
    ) as stream:
        pieces = [t for t in stream.text_stream]
        final = stream.get_final_message()
    out["messages_stream_pieces"] = len(pieces)
    out["messages_stream_text"] = "".join(pieces)
    out["messages_stream_final_usage"] = final.usage.output_tokens
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER}]
    first = client.messages.create(
        model="ignored", max_tokens=64, tools=tools,
        tool_choice={"type": "any"} if force else {"type": "auto"},
        messages=[{"role": "user", "content": "weather in Paris?"}],
    )
    use = [b for b in first.content if b.type == "tool_use"][0]
    out["messages_tool_name"] = use.name
    out["messages_tool_stop"] = first.stop_reason
    second = client.messages.create(
        model="ignored", max_tokens=64, tools=tools,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": '{"temp_c": 21}'}]},
        ],
    )
    out["messages_after_tool"] = "".join(b.text for b in second.content if b.type == "text")
    try:
        client.messages.create(model="ignored", max_tokens=10, messages=[{"role": "user", "content": [{"type": "bogus"}]}])
        out["messages_bad_input"] = None
    except anthropic.BadRequestError as e:
        out["messages_bad_input"] = e.body
    models = httpx.get(
        "https://inference.local/v1/models", headers={"anthropic-version": "2023-06-01"},
    ).json()
    out["messages_models_type"] = models["data"][0]["type"]
    return out


def main():
    force = sys.argv[2] == "1"
    result = {}
    result.update(responses(force))
    result.update(messages(force))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
