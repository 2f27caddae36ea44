//! Storage: the write-ahead log, and (next) object storage, typed object paths, Parquet blocks,
//! compaction and retention. Talks to the catalog and leases only through the model's ports;
//! never speaks SQL or HTTP.
