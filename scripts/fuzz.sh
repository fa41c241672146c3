#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed number of executions,
# one target after the other, each in one process (the machine's cores are
# shared), and prints executions, time and result per target.
#
#   scripts/fuzz.sh            the campaign: >= 10 million executions in total
#   scripts/fuzz.sh smoke      1,000 executions per target, unoptimised build (scripts/test.sh)
#   scripts/fuzz.sh run N      N executions per target
#
# Target names after the mode (`fuzz.sh campaign agent_backup`, `fuzz.sh run
# 1000 report_body`) limit the run to those targets.
#
# Built once, without a sanitizer (safe Rust: the bugs worth finding are
# panics, overflows and broken invariants, and ASan would halve the speed)
# and with debug assertions, so integer overflow panics as in the tests.
# Seeds come from the repository's fixtures (rebuilt on every run); the
# corpus grows in fuzz/corpus/<target>, crashes land in
# fuzz/artifacts/<target>/. Exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=${1:-campaign}
declare -A runs
build=(--release)
all_targets=(report_pipeline report_body collector_config agent_password_policy agent_patches agent_backup)
targets=("${all_targets[@]}")
case "$mode" in
  smoke)
    # CI: unoptimised (an optimised cargo-fuzz build from scratch costs
    # 20+ minutes on 2 cores, the unoptimised one a fraction of it); the
    # point is that every target builds and survives its seeds and a
    # thousand mutations each (unoptimised, the report pipeline runs ~20 a second),
    # the campaign is what searches.
    for t in "${targets[@]}"; do runs[$t]=1000; done
    seed=(-seed=1)
    build=(--dev)
    ;;
  run)
    for t in "${targets[@]}"; do runs[$t]=${2:?usage: fuzz.sh run N}; done
    seed=()
    ;;
  campaign)
    # Shares by target speed (measured on the shared, overloaded 2-core
    # machine: the pipeline ~250 exec/s, body and password policy ~500,
    # config ~1,000, patches and backup ~10,000-20,000), so that the
    # campaign fits in about 40 minutes there; 10.25 million in total.
    runs=([report_pipeline]=300000 [report_body]=100000 [collector_config]=150000
          [agent_password_policy]=100000 [agent_patches]=4800000 [agent_backup]=4800000)
    seed=()
    ;;
  *) echo "usage: $0 [smoke|campaign|run N] [target...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
[ "$mode" = run ] && shift
if [ $# -gt 0 ]; then
  for t in "$@"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "unknown target $t" >&2; exit 2; }
  done
  targets=("$@")
fi

started=$(date +%s)
(cd fuzz && cargo +nightly fuzz build "${build[@]}" --sanitizer none --debug-assertions)
built=$(date +%s)
echo "fuzz build: $((built - started)) s" >&2
if [ "${build[0]}" = --dev ]; then profile_dir=debug; else profile_dir=release; fi
bin=$root/fuzz/target/x86_64-unknown-linux-gnu/$profile_dir

# --- seeds from the fixtures -------------------------------------------
seeds=$root/fuzz/target/seeds
rm -rf "$seeds"
for t in "${all_targets[@]}"; do mkdir -p "$seeds/$t" "$root/fuzz/corpus/$t" "$root/fuzz/artifacts/$t"; done
hosts=$root/tests/hosts
n=0
seed_file() { # target, then the bytes on stdin
  n=$((n + 1))
  cat >"$seeds/$1/seed-$n"
}

reports=("$root"/protocol/fixtures/report-*.json)
for r in "${reports[@]}"; do
  seed_file report_pipeline <"$r"
  # Two reports of one device, the second on top of the first.
  { cat "$r"; printf '\0'; cat "${reports[0]}"; } | seed_file report_pipeline
  # report_body: flags 0xc8 = no encoding, true Content-Length, 1 MiB limit;
  # 0xc9 = gzip; 0x49 = gzip under a 4 KiB limit; chunk byte 0x10 = 256 bytes.
  { printf '\xc8\x10'; cat "$r"; } | seed_file report_body
  { printf '\xc9\x10'; gzip -c "$r"; } | seed_file report_body
  { printf '\x49\x10'; gzip -c "$r"; } | seed_file report_body
  { printf '\xc1\x10'; gzip -c "$r" | head -c 200; } | seed_file report_body
done
# A gzip bomb: 8 MiB of zeros in a few KiB.
{ printf '\xc9\xff'; head -c $((8 << 20)) /dev/zero | gzip -9 -c; } | seed_file report_body

for f in collector/collector.example.toml deploy/policy.example.toml; do
  seed_file collector_config <"$root/$f"
done

# Password policy: the files of each fixture host, NUL-separated in the
# target's FILES order.
policy_files=(/etc/shadow /etc/passwd /etc/login.defs /etc/security/pwquality.conf
  /usr/lib/security/pwquality.conf.d/50-vendor.conf /etc/security/faillock.conf
  /etc/security/pwhistory.conf /etc/pam.d/common-password /etc/pam.d/common-auth
  /etc/pam.d/passwd /etc/pam.d/system-auth /usr/lib/pam.d/password-auth
  /etc/pam.d/fuzz-included /etc/security/fuzz.conf)
for h in "$hosts"/*/; do
  [ -d "$h/etc/pam.d" ] || [ -e "$h/etc/login.defs" ] || continue
  {
    first=1
    for p in "${policy_files[@]}"; do
      [ $first = 1 ] || printf '\0'
      first=0
      if [ -f "$h$p" ]; then cat "$h$p"; fi
    done
  } | seed_file agent_password_policy
done

# Patch outputs: byte 0 is the parser (OutputKind order in
# agent/src/checks/patches/command_outputs.rs), 16/17 the version orders.
patch_seed() { # kind, file
  [ -f "$2" ] || return 0
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } | seed_file agent_patches
}
for h in "$hosts"/*/; do
  c=$h/commands
  patch_seed 0 "$c/apt-cache-policy.out"
  patch_seed 1 "$c/apt-get-s-dist-upgrade.out"
  patch_seed 2 "$h/var/log/dpkg.log"
  patch_seed 3 "$h/var/run/reboot-required.pkgs"
  patch_seed 4 "$c/dnf-check-update.out"
  patch_seed 5 "$c/rpm-q-pending.out"
  patch_seed 6 "$c/dnf-updateinfo-security.out"
  patch_seed 7 "$c/needs-restarting-r.out"
  patch_seed 8 "$h/var/log/dnf.rpm.log"
  patch_seed 9 "$c/zypper-list-updates.xml"
  patch_seed 10 "$c/zypper-patch-dry-run-security.xml"
  patch_seed 11 "$h/var/log/zypp/history"
  patch_seed 12 "$c/pacman-Qu.out"
  patch_seed 13 "$h/var/log/pacman.log"
  while IFS= read -r -d '' m; do patch_seed 14 "$m"; done \
    < <(find "$h" -name repomd.xml -print0 2>/dev/null)
done
printf '\x0f2024-05-14T10:12:33+0000' | seed_file agent_patches
printf '\x101:2.36-9+deb12u7\x002.36-9+deb12u10\x002.36~rc1' | seed_file agent_patches
printf '\x111.2.3-4.el9\x001:1.2.3^git1-4.el9\x001.2.3~rc1' | seed_file agent_patches

# Backup outputs: byte 0 is the parser (OutputKind order in
# agent/src/checks/backup/tool_outputs.rs).
backup_seed() { # kind, file
  [ -f "$2" ] || return 0
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } | seed_file agent_backup
}
for c in "$hosts"/*/commands; do
  backup_seed 0 "$c/restic-snapshots.json"
  backup_seed 1 "$c/restic-stats.json"
  backup_seed 2 "$c/borg-list.json"
  backup_seed 3 "$c/borg-info.json"
  backup_seed 6 "$c/tmutil-latestbackup.out"
done
printf '\x04{"last_success_at":"2024-05-01T02:00:00Z","last_attempt_at":1714528800,"result":"success","size_bytes":12,"snapshot_count":3}' | seed_file agent_backup
printf '\x05{"status":"failure","size_bytes":5,"finished_at":"2024-05-01T02:00:00+02:00"}' | seed_file agent_backup

# --- the runs ----------------------------------------------------------
summary=$root/fuzz/target/fuzz-summary.txt
printf '%-24s %12s %8s %10s  %s\n' target executions seconds exec/s result | tee "$summary"
failed=0
total=0
for t in "${targets[@]}"; do
  log=$root/fuzz/target/fuzz-$t.log
  t0=$(date +%s.%N)
  set +e
  "$bin/$t" "$root/fuzz/corpus/$t" "$seeds/$t" \
    -runs="${runs[$t]}" "${seed[@]}" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$root/fuzz/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
  rate=$(awk -v e="$execs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? e / s : e) }')
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="CRASH (exit $rc; see $log and fuzz/artifacts/$t/)"
    failed=1
  fi
  total=$((total + execs))
  printf '%-24s %12s %8s %10s  %s\n' "$t" "$execs" "$secs" "$rate" "$result" | tee -a "$summary"
done
printf '%-24s %12s %8s\n' total "$total" "$(($(date +%s) - built))" | tee -a "$summary"
exit $failed
