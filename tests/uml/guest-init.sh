#!/bin/bash
# PID 1 of the user-mode-linux guest booted by tests/uml/run.sh. Never run it on
# the host: it refuses unless it is PID 1 of a UML kernel.
#
# The guest's root is the host's / over hostfs (read-write as booted). Before
# anything else this script builds an overlayfs (lower = hostfs root, upper =
# tmpfs in guest RAM), remounts the hostfs root read-only, checks that it really
# is read-only, and chroots into the overlay. The only host directory the guest
# can write is the scenario's output dir ($TB_OUT on the kernel command line),
# mounted with a second hostfs mount at /out.
#
# The job is guest-main.sh (from $TB_HERE, read through the overlay); its
# stdout+stderr go to /out/guest.log and its exit status to /out/exit-status.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C
umask 022
log() { echo "guest-init: $*"; }
poweroff_now() {
    sync
    /sbin/poweroff -f >/dev/null 2>&1
    echo o > /proc/sysrq-trigger 2>/dev/null
    sleep 10
    exit 1   # PID 1 exiting panics the UML kernel, which ends it too
}
fatal() { log "FATAL: $*"; poweroff_now; }

[ $$ -eq 1 ] || { echo "guest-init.sh: not PID 1; only for a UML guest" >&2; exit 1; }
mount -t proc proc /proc || fatal "mount /proc"
grep -qi 'user mode linux\|^model name.*UML' /proc/cpuinfo || fatal "not a UML kernel; refusing"
mount -t sysfs sysfs /sys
grep -q ' /dev devtmpfs' /proc/mounts || mount -t devtmpfs devtmpfs /dev

OUT=${TB_OUT:-}
HERE=${TB_HERE:-}
[ -n "$OUT" ] && [ -n "$HERE" ] || fatal "TB_OUT / TB_HERE missing on the kernel command line"
KVER=$(uname -r)
MODDIR=/usr/lib/uml/modules/$KVER
# Scratch space on the guest's own devtmpfs, not on /tmp: the repository (and so $HERE)
# may itself live under /tmp, as a CI clone does.
S=/dev/sstp-scratch
M=$S/root
REPO_TOP=$(cd "$HERE/../.." && pwd)

# --- overlay root, host root read-only -----------------------------------------
mkdir -p $S && mount -t tmpfs -o mode=0755 scratch $S || fatal "tmpfs $S"
mkdir -p $S/upper $S/work $M
python3 "$HERE/modload.py" $MODDIR overlay || fatal "loading overlay.ko"
mount -t overlay overlay -o lowerdir=/,upperdir=$S/upper,workdir=$S/work $M \
    || fatal "overlay mount failed; refusing to run on a writable host root"
mount -o remount,ro / || fatal "cannot remount the hostfs root read-only"
if touch /.sstp-uml-write-test 2>/dev/null; then rm -f /.sstp-uml-write-test; fatal "host root still writable"; fi
log "host root read-only below an overlay (upper = guest tmpfs)"

mount -t proc proc $M/proc
mount -t sysfs sysfs $M/sys
mount -t devtmpfs devtmpfs $M/dev
mkdir -p $M/dev/pts $M/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $M/dev/pts
mount -t tmpfs -o mode=1777 shm $M/dev/shm
# a bare devtmpfs lacks these (bash process substitution needs /dev/fd)
ln -sfn /proc/self/fd $M/dev/fd
ln -sfn /proc/self/fd/0 $M/dev/stdin
ln -sfn /proc/self/fd/1 $M/dev/stdout
ln -sfn /proc/self/fd/2 $M/dev/stderr
# (not /root: pyenv's Python, which the sstp-server venv links to, may live there)
# Keep a handle on the repository as the overlay shows it (writable into guest RAM: the
# sstp-server fixes patch its venv copy) before tmpfs mounts may cover it.
mkdir -p $S/repo && mount --bind "$M$REPO_TOP" $S/repo || fatal "bind $REPO_TOP"
for d in /run /tmp /var/tmp /var/log; do
    mount -t tmpfs -o mode=0755 "tmpfs${d//\//-}" "$M$d" || fatal "tmpfs $d"
done
chmod 1777 $M/tmp $M/var/tmp
# A repository under one of those (a CI clone in /tmp): put it back at its own path.
if [ ! -e "$M$HERE/guest-main.sh" ]; then
    mkdir -p "$M$REPO_TOP" && mount --bind $S/repo "$M$REPO_TOP" || fatal "rebind $REPO_TOP"
    log "repository $REPO_TOP was under a guest tmpfs: bound back"
fi
mkdir -p $M/run/lock $M/run/netns $M/run/sstpc $M/var/lib/softether $M/var/log/softether
chmod 1777 $M/run/lock
mount -t tmpfs -o mode=0700 softether-state $M/var/lib/softether
chroot $M id sstpc >/dev/null 2>&1 && chroot $M chown sstpc:sstpc /run/sstpc

# private /etc/ppp: empty global options (Debian's has "auth", lcp-echo ...), no
# ip-up scripts, the test user's secrets for both CHAP and PAP.
mount -t tmpfs -o mode=0755 etc-ppp $M/etc/ppp || fatal "tmpfs /etc/ppp"
mkdir -p $M/etc/ppp/peers
: > $M/etc/ppp/options
printf 'alice * test-pass-123 *\n' > $M/etc/ppp/chap-secrets
printf 'alice * test-pass-123 *\n' > $M/etc/ppp/pap-secrets
chmod 600 $M/etc/ppp/chap-secrets $M/etc/ppp/pap-secrets

# modules: the Debian user-mode-linux package keeps them under /usr/lib/uml
mkdir -p $M/lib/modules && ln -sfn $MODDIR $M/lib/modules/$KVER

# the one writable host directory
mkdir -p $M/out && mount -t hostfs -o "$OUT" hostout $M/out || fatal "hostfs mount of $OUT"
[ -w $M/out ] || fatal "$OUT not writable"

G() { chroot $M "$@"; }
G hostname sstp-uml
# modload.py: finit_module(2) + modules.dep, so the host needs no kmod.
# ppp_deflate and bsd_comp as a distribution has them: pppd probes the kernel for both
# compressors (PPPIOCSCOMPRESS) unless told nodeflate nobsdcomp, and the kernel's own
# module request cannot work here (modprobe runs in the guest's real root, which has no
# /lib/modules/$KVER), so without them each probe waits for a failing modprobe, about
# 0.15 s in UML, which a real system does not pay (connect-time, docs/performance.md).
G python3 "$HERE/modload.py" /lib/modules/$KVER ppp_generic ppp_async ppp_synctty ppp_mppe ppp_deflate bsd_comp tun veth ipv6 sch_netem \
    || fatal "loading kernel modules"
G ip link set lo up
log "modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
[ -c $M/dev/ppp ] || fatal "/dev/ppp missing after modprobe ppp_generic"
cp /proc/mounts $M/out/guest-mounts.txt 2>/dev/null

GUEST_TIMEOUT=${TB_GUEST_TIMEOUT:-600}
log "running guest-main.sh (guest timeout ${GUEST_TIMEOUT}s)"
chroot $M /usr/bin/env -i PATH=$PATH HOME=/root LANG=C TERM=dumb TB_HERE="$HERE" \
    /usr/bin/timeout -k 5 "$GUEST_TIMEOUT" /bin/bash "$HERE/guest-main.sh" \
    > $M/out/guest.log 2>&1 < /dev/null
RC=$?
log "guest-main.sh exit status $RC"
# stop whatever is left so that files on the host mount get closed
kill -TERM -1 2>/dev/null; sleep 1; kill -KILL -1 2>/dev/null; sleep 0.2
echo "$RC" > $M/out/exit-status
sync
umount $M/out 2>/dev/null || umount -l $M/out 2>/dev/null
sync
poweroff_now
