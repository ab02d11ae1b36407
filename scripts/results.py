#!/usr/bin/env python3
"""Parse the console log of a test boot (vm/init's @@@ markers, KTAP from
KUnit's debugfs results and from the kselftest harness), print every
failure with its log, and end with 'VARIANT: N passed, N failed, N skipped'.

A kernel splat anywhere in the log (oops, BUG, WARN, lockdep, KASAN,
list corruption, a kmemleak report, a hung task) or a run that never
reached its end is a failure too.  Exit status 1 on any failure.

  results.py --variant normal --json out.json console.log
  results.py --merge a.json b.json     # total of several runs
"""
import argparse
import json
import re
import sys

RESULT = re.compile(r'^(?P<ind>\s*)(?P<not>not )?ok \d+ (?:- )?(?P<name>.*?)'
                    r'(?:\s+#\s*(?P<dir>SKIP|TODO)\b(?P<why>.*))?\s*$', re.I)
SPLATS = [
    r'\bBUG: ', r'\bOops\b', r'^\s*(\[[ \d.]+\] )?WARNING: ', r'Kernel panic',
    r'general protection fault', r'kernel BUG at', r'list_(add|del) corruption',
    r'UBSAN: ', r'possible (circular|recursive) locking', r'inconsistent lock state',
    r'INFO: task .* blocked for more than', r'rcu: INFO: .* detected stalls',
    r'unreferenced object 0x', r'^vm: TIMEOUT',
]
SPLAT = re.compile('|'.join(SPLATS))
# vm/init echoes its markers; the kernel may print in the middle of a line.
MARK = re.compile(r'@@@ (?P<what>KUNIT|SELFTEST|KMEMLEAK) (?P<edge>BEGIN|END)'
                  r'(?: (?P<name>\S+))?(?: rc=(?P<rc>\d+))?')


def parse_block(kind, name, lines, res):
    """Count the leaf results of one KTAP block; a result line is a parent
    when the result line printed just before it is deeper (KTAP prints a
    test's subtests before the test's own line)."""
    prev_ind = None
    since = []
    for line in lines:
        m = RESULT.match(line)
        if not m:
            since.append(line)
            continue
        ind = len(m.group('ind').expandtabs())
        parent = prev_ind is not None and prev_ind > ind
        prev_ind = ind
        log, since = since, []
        if kind == 'kunit' and ind == 0 and not parent:
            # A suite with no test lines at all: count the suite.
            pass
        elif parent:
            continue
        full = f'{kind}/{name}/{m.group("name")}'
        if m.group('dir') and m.group('dir').upper() == 'SKIP':
            res['skipped'].append(full)
        elif m.group('not'):
            res['failed'].append({'name': full, 'log': log[-60:]})
        else:
            res['passed'].append(full)


def parse(path, variant):
    with open(path, errors='replace') as f:
        text = f.read().replace('\r', '')
    lines = text.split('\n')
    res = {'variant': variant, 'passed': [], 'failed': [], 'skipped': []}
    block = None
    done = False
    splats = []
    for i, line in enumerate(lines):
        if SPLAT.search(line):
            splats.append(i)
        if '@@@ DONE' in line:
            done = True
        m = MARK.search(line)
        if not m:
            if block is not None:
                block['lines'].append(line)
            continue
        if m.group('edge') == 'BEGIN':
            block = {'kind': m.group('what').lower(), 'name': m.group('name') or '',
                     'lines': []}
            continue
        if block is None:
            continue
        kind, name, body = block['kind'], block['name'], block['lines']
        block = None
        if kind == 'kmemleak':
            continue        # its report lines are splats, above
        before = len(res['passed']) + len(res['failed']) + len(res['skipped'])
        parse_block(kind, name, body, res)
        after = len(res['passed']) + len(res['failed']) + len(res['skipped'])
        rc = m.group('rc')
        if kind == 'selftest' and rc not in (None, '0', '4'):
            if not any(f['name'].startswith(f'selftest/{name}/') for f in res['failed']):
                res['failed'].append({'name': f'selftest/{name} (exit status {rc})',
                                      'log': body[-60:]})
        elif after == before:
            res['failed'].append({'name': f'{kind}/{name} (no results)', 'log': body[-60:]})
    if not done:
        res['failed'].append({'name': 'boot: the run did not reach its end',
                              'log': lines[-40:]})
    for i in splats:
        res['failed'].append({'name': f'kernel: {lines[i].strip()[:100]}',
                              'log': lines[max(0, i - 5):i + 40]})
    return res


def report(res_list):
    failed = [f for r in res_list for f in r['failed']]
    for f in failed:
        print(f'--- FAIL: {f["name"]}')
        for line in f['log']:
            print(f'    {line}')
    for r in res_list:
        print(f'{r["variant"]}: {len(r["passed"])} passed, {len(r["failed"])} failed, '
              f'{len(r["skipped"])} skipped')
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--variant', default='normal')
    ap.add_argument('--json')
    ap.add_argument('--merge', action='store_true')
    ap.add_argument('files', nargs='+')
    a = ap.parse_args()
    if a.merge:
        runs = []
        for p in a.files:
            try:
                with open(p) as f:
                    runs.append(json.load(f))
            except (OSError, ValueError):
                runs.append({'variant': p, 'passed': [], 'skipped': [],
                             'failed': [{'name': f'{p}: no results', 'log': []}]})
        n = [sum(len(r[k]) for r in runs) for k in ('passed', 'failed', 'skipped')]
        for r in runs:
            print(f'{r["variant"]}: {len(r["passed"])} passed, {len(r["failed"])} failed, '
                  f'{len(r["skipped"])} skipped')
        print(f'{n[0]} passed, {n[1]} failed, {n[2]} skipped')
        return 1 if n[1] or not n[0] else 0
    res = parse(a.files[0], a.variant)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)
    failed = report([res])
    return 1 if failed or not res['passed'] else 0


if __name__ == '__main__':
    sys.exit(main())
