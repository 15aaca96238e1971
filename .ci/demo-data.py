"""Writes the demo's real data as JSON files into the directory given as argv[1]:

- resources.json: CPython's own language reference topics (pydoc_data.topics, shipped with every
  Python 3), chunked by paragraphs into resources with uri + ordinal;
- moments.json:   this repository's git history, one moment per commit;
- agents.json, sessions.json, messages.json: a small support conversation about the docs.
"""
import json
import os
import subprocess
import sys

from pydoc_data.topics import topics

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def chunks(text, size=1200):
    buf = []
    for para in [p.strip() for p in text.split("\n\n") if p.strip()]:
        if buf and sum(len(p) for p in buf) + len(para) > size:
            yield "\n\n".join(buf)
            buf = []
        buf.append(para)
    if buf:
        yield "\n\n".join(buf)


resources = []
for topic, text in sorted(topics.items()):
    title = text.strip().splitlines()[0].strip() if text.strip() else topic
    for ordinal, chunk in enumerate(chunks(text)):
        resources.append({
            "name": title[:120],
            "content": chunk,
            "category": "statement" if topic.endswith("stmt") or topic in ("if", "while", "for", "try", "with", "def", "class") else "language-reference",
            "uri": f"python-docs/{topic}",
            "ordinal": ordinal,
            "metadata": {"source": f"CPython {sys.version.split()[0]} pydoc_data.topics", "topic": topic},
        })

moments = []
log = subprocess.run(["git", "log", "--format=%H%x1f%aI%x1f%an%x1f%s"], capture_output=True, text=True, check=False).stdout
for line in log.splitlines():
    sha, when, author, subject = line.split("\x1f")
    moments.append({
        "name": f"commit {sha[:10]}",
        "content": subject,
        "starts_at": when,
        "ends_at": when,
        "moment_type": "commit",
        "entity_refs": [author],
        "metadata": {"sha": sha},
    })

agents = [
    {"name": "docs-helper", "description": "Answers questions about the Python language reference", "category": "support",
     "tools": [{"name": "search_resources"}], "output_schema": {"type": "object", "properties": {"answer": {"type": "string"}}}},
    {"name": "release-notes", "description": "Summarises repository history into release notes", "category": "writing"},
]
sessions = [{"name": "ticket-1042", "query": "How does the with statement call __exit__?", "agent": "docs-helper",
             "case_id": "1042", "session_type": "chat"}]
messages = [
    {"role": "user", "content": "How does the with statement call __exit__ when the body raises?"},
    {"role": "assistant", "content": "It calls __exit__(type, value, traceback); a true return value suppresses the exception."},
    {"role": "user", "content": "And when the body finishes normally?"},
    {"role": "assistant", "content": "Then __exit__ is called with three None arguments."},
]

for name, rows in [("resources", resources), ("moments", moments), ("agents", agents), ("sessions", sessions), ("messages", messages)]:
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(rows, f)
print(f"{len(resources)} resources from {len(topics)} Python reference topics, {len(moments)} commits", file=sys.stderr)
