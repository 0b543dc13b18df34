"""Build, ship and drive archiveflow on MWAA: constraints, the bundle, the packing worker image,
the deploy command and the REST client. None of it ships in the bundle."""
