#!/usr/bin/env python3
# scripts/checkpatch-notes.py DIR N NOTES: the checkpatch findings left on a
# series of N patches (DIR/1 .. DIR/N hold checkpatch's output for each),
# grouped and each with its explanation from NOTES (rfc/checkpatch-notes).
# Prints the report on stdout and the number of findings without an
# explanation on stderr.
import fnmatch, os, re, sys, textwrap
d, n, notes_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
notes = []  # (type, path glob, explanation)
if os.path.exists(notes_path):
    for line in open(notes_path):
        if line.strip() and not line.startswith('#'):
            t, g, text = line.split(None, 2)
            notes.append((t, g, text.strip()))
groups = {}  # (patch, level, type, file) -> [count, message]
order = []
for i in range(1, n + 1):
    lines = open(os.path.join(d, str(i))).read().split('\n')
    for k, line in enumerate(lines):
        m = re.match(r'^(ERROR|WARNING|CHECK):([A-Z0-9_]+): (.*)$', line)
        if not m:
            continue
        path = ''
        for nxt in lines[k + 1:k + 3]:
            f = re.match(r'^#\d+: FILE: ([^:]+):', nxt)
            if f:
                path = f.group(1)
                break
        key = (i, m.group(1), m.group(2), path)
        if key not in groups:
            groups[key] = [0, m.group(3)]
            order.append(key)
        groups[key][0] += 1
if not order:
    print('checkpatch.pl --strict reports nothing on this series.')
    sys.exit(0)
print('checkpatch.pl --strict leaves these, on purpose:')
unexplained = 0
for key in order:
    i, level, typ, path = key
    count, msg = groups[key]
    where = ', '.join(x for x in [f'{count}x' if count > 1 else '', path] if x)
    print()
    print(textwrap.fill(f'[PATCH {i}/{n}] {level}:{typ}' + (f' ({where})' if where else '') +
                        f': {msg}', width=72, initial_indent='  ', subsequent_indent='    '))
    note = next((t for ty, g, t in notes if ty == typ and fnmatch.fnmatch(path or '-', g)), None)
    if note is None:
        unexplained += 1
        note = '(not explained yet)'
    print(textwrap.fill(note, width=72, initial_indent='    ', subsequent_indent='    '))
print(unexplained, file=sys.stderr)
