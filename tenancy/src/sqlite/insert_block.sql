INSERT INTO blocks (tenant, block_id, start_ns, end_ns, size_bytes, span_count, trace_count,
                    compaction_level, format_version, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, block_id) DO NOTHING
