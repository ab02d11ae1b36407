#!/usr/bin/env python3
"""Extract iu-bench's outputs from a bench boot's console log (the guest has
no shared file system: vm/init prints them between @@@ BENCH-* markers) into
a results folder: latest.json, latest.md and the SVG plots.

  bench-results.py console.log bench/results
"""
import os
import re
import sys


def main():
    log, outdir = sys.argv[1], sys.argv[2]
    with open(log, errors='replace') as f:
        lines = f.read().replace('\r', '').split('\n')
    blocks, cur, name = {}, None, None
    rc = None
    for line in lines:
        m = re.search(r'@@@ BENCH-(JSON|MD|SVG) (BEGIN|END)(?: (\S+))?', line)
        if m:
            if m.group(2) == 'BEGIN':
                kind = m.group(1)
                name = {'JSON': 'latest.json', 'MD': 'latest.md'}.get(kind, m.group(3))
                cur = []
            else:
                blocks[name] = cur
                cur = None
            continue
        m = re.search(r'@@@ BENCH rc=(\d+)', line)
        if m:
            rc = int(m.group(1))
        if cur is not None:
            cur.append(line)
    if 'latest.json' not in blocks or 'latest.md' not in blocks:
        print('bench: no results in the console log (see %s)' % log, file=sys.stderr)
        return 1
    os.makedirs(outdir, exist_ok=True)
    for name, body in blocks.items():
        fname = os.path.basename(name)
        if not fname.endswith(('.json', '.md', '.svg')):
            fname += '.svg'
        with open(os.path.join(outdir, fname), 'w') as f:
            f.write('\n'.join(body).strip('\n') + '\n')
    print(open(os.path.join(outdir, 'latest.md')).read())
    print('bench: results in %s: %s' % (outdir, ', '.join(sorted(blocks))))
    if rc:
        print('bench: iu-bench exited with %d' % rc, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
