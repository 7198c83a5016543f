"""Waits until every id listed in ACCEPTED has arrived at a receiver directory (files
msg-N.json, each one envelope for the recipient), unpacking new files as they come with the
gateway CLI. Prints "delivered D of A accepted; M missing; X duplicate deliveries" and exits
0 only when nothing is missing within TIMEOUT seconds.
Usage: check_ids.py CLI SECRETS DIR ACCEPTED TIMEOUT"""
import concurrent.futures, glob, json, os, subprocess, sys, time

cli, secrets, rxdir, accepted_path, timeout = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
accepted = {l.strip() for l in open(accepted_path) if l.strip()}


def unpack(path):
    """(path, id) or (path, None) when it is not readable yet (tried again next round)"""
    try:
        r = subprocess.run([cli, "unpack", "--secrets", secrets, path], capture_output=True)
    except OSError:
        return path, None
    if r.returncode != 0:
        return path, None
    try:
        return path, json.loads(r.stdout)["id"]
    except (ValueError, KeyError):
        return path, None


seen_files, counts = set(), {}
deadline = time.time() + timeout
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    while True:
        new = [f for f in glob.glob(os.path.join(rxdir, "msg-*.json")) if f not in seen_files]
        for path, i in pool.map(unpack, new):
            if i is not None:
                seen_files.add(path)
                counts[i] = counts.get(i, 0) + 1
        missing = accepted - counts.keys()
        if not missing or time.time() > deadline:
            break
        time.sleep(0.2)
dups = sum(c - 1 for i, c in counts.items() if i in accepted)
print("delivered %d of %d accepted; %d missing; %d duplicate deliveries" %
      (len(accepted) - len(missing), len(accepted), len(missing), dups))
if missing:
    print("missing: " + " ".join(sorted(missing)[:20]))
sys.exit(1 if missing else 0)
