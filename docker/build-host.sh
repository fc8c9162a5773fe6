#!/bin/sh
# One Dockerfile stage: the roles of one kind of host (ansible/site.yml with inventory/compose.yml), installed and configured.
# What needs a running cluster and every secret are left to the container's start.
set -e
cd /opt/slurm-interactive/ansible
ansible-playbook -i inventory/compose.yml site.yml --limit "$1" \
    --skip-tags accounting_state,reservations,running_controller,database,hub_db_state,secrets,idp_secrets,accounting_sync
rm -rf /var/cache/apt/archives/*.deb /root/.cache /root/.npm
