SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, trace_count,
       compaction_level, format_version, state
FROM blocks
WHERE tenant = ? AND state = 'live' AND start_ns <= ? AND end_ns >= ?
ORDER BY start_ns, block_id
