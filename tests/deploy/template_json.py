"""Prints a CloudFormation template as JSON, decoded as cfn-lint decodes it (short-form
intrinsics such as `!Ref X` become `{"Ref": "X"}`), for tests that check it from Rust.

Usage: template_json.py TEMPLATE
"""

import json
import sys

from cfnlint.decode import decode


def main():
    template, errors = decode(sys.argv[1])
    if errors:
        raise SystemExit(f"{sys.argv[1]}: cannot be read: {errors}")
    json.dump(template, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
