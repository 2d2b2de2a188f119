"""Renders the shipped Wavefront alert target template the way Wavefront does: Mustache, plus
Wavefront's `jsonEscape` and `trimTrailingComma` functions. Reads the template path and a JSON
file of alert variables; prints the rendered body.

Used by the integration tests to prove that what the template renders parses.
"""

import json
import sys

import chevron


def json_escape(text, render):
    # Escape the rendered text as the inside of a JSON string.
    return json.dumps(render(text))[1:-1]


def trim_trailing_comma(text, render):
    rendered = render(text).rstrip()
    return rendered[:-1] if rendered.endswith(",") else rendered


def main():
    template_path, variables_path = sys.argv[1], sys.argv[2]
    with open(template_path, encoding="utf-8") as f:
        template = f.read()
    with open(variables_path, encoding="utf-8") as f:
        variables = json.load(f)
    variables["jsonEscape"] = json_escape
    variables["trimTrailingComma"] = trim_trailing_comma
    sys.stdout.write(chevron.render(template, variables))


if __name__ == "__main__":
    main()
