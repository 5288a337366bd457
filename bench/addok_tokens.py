"""Print Addok's own tokens for each line of stdin, as JSON lines.

Makes tests/unit/text/addok-tokens.jsonl.gz, the golden file that keeps balise's
text pipeline identical to Addok 1.3.2 + addok-fr + addok-france. Run with the
Addok venv made by bench/addok_env.py (no Redis needed for tokenizing):

    ADDOK_CONFIG_MODULE=bench/addok_config.py \
        .bench/addok-venv/bin/python bench/addok_tokens.py < strings.txt > tokens.jsonl
"""

import json
import sys


def main() -> None:
    from addok.config import config

    config.load()
    from addok.helpers.index import preprocess
    from addok.helpers.search import preprocess_query
    from addok.helpers.text import ascii

    for line in sys.stdin:
        s = line.rstrip("\n")
        query = [[str(t), t.kind] for t in preprocess_query(ascii(s.strip()))]
        print(json.dumps({"s": s, "index": [str(t) for t in preprocess(s)], "query": query}))


if __name__ == "__main__":
    main()
