#!/usr/bin/env python3
"""libinjection's verdicts on strings given by a Rust test, for the parity test of the
libinjection family (the C library through the `libinjection-python` wrapper on PyPI).

Input (stdin): one JSON string per line. Output (stdout): one JSON array per input line, in
order, flushed as it goes: [is_sqli, sqli_fingerprint, is_xss]. Strings reach the C library
as UTF-8, the bytes libinjectionrs sees on the Rust side.
"""

import json
import sys

import libinjection


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        value = json.loads(line)
        sqli = libinjection.is_sql_injection(value)
        xss = libinjection.is_xss(value)
        out.write(json.dumps([bool(sqli["is_sqli"]), sqli["fingerprint"], bool(xss["is_xss"])]))
        out.write("\n")
    out.flush()


if __name__ == "__main__":
    main()
