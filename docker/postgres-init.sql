-- Label Studio's own database, next to labelloop's (POSTGRES_DB) on the same server.
CREATE DATABASE labelstudio;
