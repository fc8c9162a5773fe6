# A bare host of a site, as a freshly installed Debian 12 machine is: systemd, an ssh server and
# Python, nothing of the project. `make site-test` (docker/site-test.sh) runs six of them and
# deploys ansible/site.yml onto them over ssh. The containers run systemd as their init, with the
# machine's cgroups mounted, the way a VM runs it.
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus openssh-server python3 ca-certificates \
    && rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* \
    && rm -f /etc/ssh/ssh_host_*_key* \
    && systemctl enable ssh \
    && systemctl mask getty@tty1.service console-getty.service systemd-logind.service
# Host keys are made at the first boot, never in an image.
RUN printf '[Unit]\nDescription=ssh host keys\nBefore=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n' \
        > /etc/systemd/system/ssh-host-keys.service \
    && systemctl enable ssh-host-keys.service
# Certificate authorities the machine building this trusts beyond Debian's (a site's TLS-inspecting
# proxy), for pip and npm on the host as well as the system.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null \
    && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf \
    && printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > /etc/npmrc \
    && printf 'PIP_CERT=/etc/ssl/certs/ca-certificates.crt\nNODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n' >> /etc/environment
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
