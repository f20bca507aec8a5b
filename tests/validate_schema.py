#!/usr/bin/python3
"""Validates JSON documents against a JSON Schema (draft 2020-12).

usage: validate_schema.py SCHEMA [DOCUMENT...]   ("-" or no document: read one from stdin)
Exits 0 when every document is valid, 1 listing each error, 2 when the schema itself is invalid or the
python3-jsonschema module (Debian package python3-jsonschema, see scripts/deps.sh) is missing.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.stderr.write("validate_schema.py: the Python module jsonschema is missing: "
                     "install python3-jsonschema (scripts/deps.sh)\n")
    sys.exit(2)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        sys.stderr.write(f"{sys.argv[1]}: invalid schema: {e.message}\n")
        return 2
    validator = jsonschema.Draft202012Validator(schema)
    failed = False
    for name in sys.argv[2:] or ["-"]:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            print(f"{name}: not JSON: {e}")
            failed = True
            continue
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{name}: {where}: {error.message}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
