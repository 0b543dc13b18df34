"""Units, named once: MiB is 2**20 bytes everywhere in archiveflow (sizes in confs, logs, plans)."""

MiB = 1024 * 1024
