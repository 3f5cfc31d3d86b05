#!/usr/bin/python3
"""The reference for `smolvid debug render-chat`: a chat template rendered the way transformers'
apply_chat_template renders it (jinja2 ImmutableSandboxedEnvironment with trim_blocks and
lstrip_blocks, context {messages, add_generation_prompt}; transformers 4.50
utils/chat_template_utils.py).

usage: render_chat_reference.py TEMPLATE MESSAGES.json [--add-generation-prompt]
TEMPLATE is a Jinja file, or a chat_template.json whose "chat_template" is the template.
Prints {"prompt": ...} as JSON (ASCII-escaped, so every character survives the pipe)."""
import json
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment


def main():
    template_path, messages_path = sys.argv[1], sys.argv[2]
    add_generation_prompt = "--add-generation-prompt" in sys.argv[3:]
    with open(template_path, encoding="utf-8", newline="") as f:
        source = f.read()
    if template_path.endswith(".json"):
        source = json.loads(source)["chat_template"]
    with open(messages_path, encoding="utf-8") as f:
        messages = json.load(f)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    prompt = env.from_string(source).render(messages=messages, add_generation_prompt=add_generation_prompt)
    print(json.dumps({"prompt": prompt}))


if __name__ == "__main__":
    main()
