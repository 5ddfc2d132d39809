{#- Last step of a build, applied on its own (not part of the highstate): nothing that
    belongs to the build machine or to one instance may stay in the image. #}
{%- set homes = ['/root'] + salt['file.find']('/home', maxdepth=1, mindepth=1, type='d') %}

cleanup-machine-id-emptied:
  file.managed:
    - name: /etc/machine-id
    - contents: ''
    - contents_newline: False

{%- for key in salt['file.find']('/etc/ssh', name='ssh_host_*', type='f') %}
cleanup-ssh-host-key-{{ key.split('/')[-1] }}-absent:
  file.absent:
    - name: {{ key }}
{%- endfor %}

{%- for home in homes %}
cleanup-{{ home }}-authorized-keys-absent:
  file.absent:
    - name: {{ home }}/.ssh/authorized_keys

cleanup-{{ home }}-shell-history-absent:
  file.absent:
    - name: {{ home }}/.bash_history

cleanup-{{ home }}-cloud-credentials-absent:
  file.absent:
    - name: {{ home }}/.aws

cleanup-{{ home }}-registry-credentials-absent:
  file.absent:
    - name: {{ home }}/.docker/config.json
{%- endfor %}

{#- Identities of the build machine: dockerd makes a new key and Salt a new minion id
    (from the hostname) on an instance's first start. #}
cleanup-build-identities-absent:
  file.absent:
    - names:
      - /etc/docker/key.json
      - /etc/salt/minion_id

cleanup-app-env-absent:
  file.absent:
    - name: /etc/app/app.env

{%- if grains.get('role') == 'chroma' %}
{%- from 'chroma/map.jinja' import chroma with context %}
{#- The build's throwaway token and the map made from it; its scratch data volume
    (stopping the volume unit unmounts it; both start again at boot). #}
cleanup-chroma-server-stopped:
  service.dead:
    - name: chroma

cleanup-chroma-build-volume-released:
  service.dead:
    - name: golden-chroma-volume
    - require:
      - service: cleanup-chroma-server-stopped

{#- Stopped first, or removing the token would have it write a new map. #}
cleanup-chroma-token-watch-stopped:
  service.dead:
    - name: golden-chroma-proxy-auth.path

cleanup-chroma-build-secrets-absent:
  file.absent:
    - names:
      - {{ chroma.token_file }}
      - {{ chroma.bearer_map }}
      - {{ chroma.build_override }}
    - require:
      - service: cleanup-chroma-token-watch-stopped

cleanup-chroma-build-volume-absent:
  file.absent:
    - name: {{ chroma.build_volume }}
    - require:
      - service: cleanup-chroma-build-volume-released
{%- endif %}

{#- Last of the apt steps: `apt-get clean` and dpkg below take apt's lock in the lists
    folder, which would be left behind. #}
cleanup-apt-lists-absent:
  file.absent:
    - name: /var/lib/apt/lists
    - require:
      - cmd: cleanup-apt-caches-emptied
      - cmd: cleanup-removed-packages-purged

cleanup-apt-lists-directory-present:
  file.directory:
    - name: /var/lib/apt/lists/partial
    - makedirs: True
    - require:
      - file: cleanup-apt-lists-absent

{#- apt's caches: downloaded packages and the binary caches built from the lists
    (pkgcache.bin, srcpkgcache.bin: tens of MB). apt rebuilds them at its next update. #}
cleanup-apt-caches-emptied:
  cmd.run:
    - name: apt-get clean

{#- Packages removed during the build (an upgrade's old kernel) keep their conffiles in
    state "rc" until purged. #}
cleanup-removed-packages-purged:
  cmd.run:
    - name: dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package}\n' | awk '$1 == "rc" {print $2}' | xargs -r dpkg --purge

cleanup-build-caches-absent:
  file.absent:
    - names:
      # Salt's job cache and file cache, not extmods: the synced golden_pillar module
      # must stay for the first highstate on a running instance.
      - /var/cache/salt/minion/proc
      - /var/cache/salt/minion/files
      - /var/tmp/golden-tests
      - /var/log/salt

{#- cloud-init has no Salt state module; `clean` drops instance data so the next boot
    runs per-instance modules again. #}
cleanup-cloud-init-instance-data-absent:
  cmd.run:
    - name: cloud-init clean --logs
    - onlyif: command -v cloud-init

cleanup-logs-emptied:
  cmd.run:
    - name: find /var/log -type f \( -name '*.log' -o -name '*.gz' -o -name '*.[0-9]' -o -name '*.journal' -o -name '*.journal~' \) -delete

{#- The app's containers are made at boot, with that boot's environment; only their
    images stay in the image. #}
{#- dockerd renames these two at every start. In an image they would be directories of a
    lower layer, which overlayfs (the twin's root) cannot rename; dockerd recreates them. #}
cleanup-docker-stopped-for-the-image:
  service.dead:
    - name: docker
    - require:
      - cmd: cleanup-app-containers-absent

cleanup-docker-scratch-directories-absent:
  file.absent:
    - names:
      - /var/lib/docker/runtimes
      - /var/lib/docker/tmp
    - require:
      - service: cleanup-docker-stopped-for-the-image

cleanup-app-containers-absent:
  cmd.run:
    - name: docker compose --project-name app --file /opt/app/compose.yaml down --timeout 20
    - onlyif: test -f /opt/app/compose.yaml && systemctl is-active --quiet docker
