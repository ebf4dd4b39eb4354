#!/bin/sh
# /init of Blixard's default guest image (docs/IMAGES.md), run by busybox sh as PID 1.
# It speaks the guest console protocol of src/shell/vm/launch-plan.ts (GUEST_LINES):
#   prints  BLIXARD-READY vm=<id>               once, when up
#   prints  BLIXARD-HEARTBEAT vm=<id> seq=<n>   five times a second
#   reads   BLIXARD-PING      -> prints BLIXARD-PONG vm=<id>
#   reads   BLIXARD-POWEROFF  -> powers off (QEMU exits 0)
# and powers off on the ACPI power button too (QMP system_powerdown), through busybox acpid.
# The VM's id comes from the kernel command line (blixard.vm=<id>). PID 1 must never exit
# (the kernel would panic), so the last loop never ends.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/run /sbin /usr/bin /usr/sbin /etc /www
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Modules in dependency order, as the image builder listed them.
while read -r module; do
  insmod "/lib/modules/$module.ko" 2>/dev/null
done < /lib/modules/load-order

id=unknown
for word in $(cat /proc/cmdline); do
  case "$word" in
    blixard.vm=*) id="${word#blixard.vm=}" ;;
  esac
done
# Commands arrive on the console; do not echo them back into the console log.
stty -echo 2>/dev/null

power_off() {
  echo "blixard-guest: powering off vm=$id"
  sync
  poweroff -f
}

# ACPI power button: busybox acpid maps the input event to PWRF/00000080 and runs this script.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho "blixard-guest: ACPI power button, powering off" > /dev/console\nsync\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod 755 /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /dev/null 2>/dev/null

ip link set lo up 2>/dev/null
if [ -e /sys/class/net/eth0 ]; then
  printf '#!/bin/sh\ncase "$1" in bound|renew)\n  ip addr flush dev "$interface"\n  ip addr add "$ip/${mask:-24}" dev "$interface"\n  [ -n "$router" ] && ip route add default via "${router%%%% *}" dev "$interface"\n  ;;\nesac\nexit 0\n' > /etc/udhcpc.script
  chmod 755 /etc/udhcpc.script
  ip link set eth0 up
  echo ok > /www/health
  httpd -p 80 -h /www
  # In the background: READY does not wait for DHCP (probes through a port forward retry).
  (udhcpc -i eth0 -q -n -t 5 -T 1 -s /etc/udhcpc.script >/dev/null 2>&1 &)
fi

echo "BLIXARD-READY vm=$id"

(
  seq=0
  while :; do
    echo "BLIXARD-HEARTBEAT vm=$id seq=$seq"
    seq=$((seq + 1))
    sleep 0.2
  done
) &

while :; do
  while read -r line; do
    case "$line" in
      BLIXARD-PING*) echo "BLIXARD-PONG vm=$id" ;;
      BLIXARD-POWEROFF*) power_off ;;
    esac
  done
  # The console's input closed: keep PID 1 alive and read again later.
  sleep 1
done
