#!/usr/bin/python3
"""Reads and clears the contract violations the mock recorded (DELETE
/_mock/violations at $MIXPEEK_MOCK_CONTROL), prints them, and exits 1 when
there were any, 2 when the mock could not be asked.

    test/mock/violations.py LABEL    LABEL names what ran since the last check
"""
import json
import os
import sys
import urllib.request


def main():
    label = sys.argv[1] if len(sys.argv) > 1 else "the tests"
    url = os.environ["MIXPEEK_MOCK_CONTROL"] + "/violations"
    try:
        req = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(req, timeout=30) as r:
            got = json.load(r)
    except Exception as e:  # noqa: BLE001 - any failure to ask is a failure
        print(f"FAILED: {label}: the mock's contract violations could not be read: {e}")
        return 2
    if got["count"] == 0:
        return 0
    shown = got["violations"]
    print(f"FAILED: {label}: {got['count']} contract violation(s) (requests or answers "
          "that do not fit Mixpeek's OpenAPI):")
    for v in shown[:50]:
        print("   " + json.dumps(v, ensure_ascii=False)[:2000])
    if got["count"] > 50:
        print(f"   ... and {got['count'] - 50} more (the mock log has them all)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
