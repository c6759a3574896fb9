// Outbound: event rows batched into AES ZIPs in the outbox, the register of exchange ids written,
// consent-withdrawal rows and look-ups by source key.
#include "dss_files/adapter_impl.hpp"

namespace casebridge::dss_files {

// --- the register of exchange ids written -------------------------------------------
register_index& dss_files_adapter::impl::load_index() {
    if (index) {
        return *index;
    }
    index.emplace();
    auto files = list_files(cfg.sent_register, [](const std::string& n) {
        return ends_with(n, register_suffix) && n.front() != '.';
    });
    if (!files) {
        env.log.warn("dss.register_unreadable", "the sent register folder cannot be read");
        return *index;
    }
    std::int64_t unreadable = 0;
    for (const auto& name : *files) {
        open_file f;
        if (!open_regular(cfg.sent_register / name, f)) {
            ++unreadable;
            continue;
        }
        exchange::csv_fd_source source(f.fd);
        exchange::csv_reader reader(source);
        if (!reader.read_header() || reader.header().size() != 2 ||
            reader.header()[0] != "exchange_id") {
            ++unreadable;
            continue;
        }
        exchange::csv_record row;
        while (true) {
            auto got = reader.next(row);
            if (!got) {
                ++unreadable;  // the rows before the fault still count as written
                break;
            }
            if (!*got) {
                break;
            }
            index->known.insert(row.fields[0]);
            index->by_source[row.fields[1]] = row.fields[0];
        }
    }
    if (unreadable > 0) {
        env.log.warn(
            "dss.register_unreadable",
            "register files unreadable, whole or in part: their exchange ids count as unknown",
            {.counts = {{"files", unreadable}}}
        );
    }
    return *index;
}

// --- outbound -------------------------------------------------------------------------
remote_result<std::string> dss_files_adapter::impl::push(const external_record& record) {
    if (!record.stream.empty() && record.stream != events_stream) {
        return make_remote_error(errc::not_found, "the DSS adapter pushes to stream events");
    }
    if (record.source_key.empty() || record.updated_at.empty()) {
        return make_remote_error(
            errc::mapping_failed, "an event needs the source key and the source version"
        );
    }
    if (!record.body.IsObject()) {
        return make_remote_error(errc::mapping_failed, "record body is not an object");
    }
    pending_row row;
    row.exchange_id = exchange_id_for(record.source_key, record.updated_at);
    row.source_hash = source_hash(record.source_key);
    row.cells.assign(columns.size(), std::string{});
    row.cells[0] = row.exchange_id;
    for (const auto& m : record.body.GetObject()) {
        const std::string_view name(m.name.GetString(), m.name.GetStringLength());
        const auto it = std::find(columns.begin() + 1, columns.end(), name);
        if (it == columns.end()) {
            return error_for(
                errc::mapping_failed,
                "column " + std::string(name) + " is not in the DSS event data dictionary",
                row.exchange_id
            );
        }
        if (m.value.IsNull()) {
            continue;
        }
        if (!m.value.IsString()) {
            return error_for(
                errc::mapping_failed,
                "column " + std::string(name) + ": the value is not text",
                row.exchange_id
            );
        }
        std::string value(m.value.GetString(), m.value.GetStringLength());
        if (!exchange::valid_utf8(value) || value.find('\0') != std::string::npos) {
            return error_for(
                errc::mapping_failed,
                "column " + std::string(name) + ": the value is not valid UTF-8 text",
                row.exchange_id
            );
        }
        row.cells[static_cast<std::size_t>(it - columns.begin())] = std::move(value);
    }
    return add_pending(std::move(row));
}

// Adds a row to the batch; a row with an exchange id already pending replaces it.
std::string dss_files_adapter::impl::add_pending(pending_row row) {
    std::string id = row.exchange_id;
    if (const auto at = pending_index.find(id); at != pending_index.end()) {
        pending[at->second] = std::move(row);
    } else {
        pending_index.emplace(id, pending.size());
        pending.push_back(std::move(row));
    }
    return id;
}

// A consent-withdrawal notice: a row with its own exchange id and the withdrawn event's,
// and nothing else.
remote_result<std::string> dss_files_adapter::impl::notify_withdrawal(
    std::string_view stream,
    const std::string& shared,
    const std::string& source_key,
    const std::string& version
) {
    if (!stream.empty() && stream != events_stream) {
        return make_remote_error(errc::not_found, "the DSS adapter notifies on stream events");
    }
    const auto col = std::find(columns.begin(), columns.end(), "withdraws_exchange_id");
    if (col == columns.end()) {
        return make_remote_error(
            errc::invalid_config, "the event data dictionary has no withdraws_exchange_id"
        );
    }
    if (shared.empty() || source_key.empty() || version.empty()) {
        return make_remote_error(
            errc::mapping_failed, "a notice needs the event id, the source key and version"
        );
    }
    const std::string key = source_key + "#consent-withdrawn";
    pending_row row;
    row.exchange_id = exchange_id_for(key, version);
    row.source_hash = source_hash(key);
    row.cells.assign(columns.size(), std::string{});
    row.cells[0] = row.exchange_id;
    row.cells[static_cast<std::size_t>(col - columns.begin())] = shared;
    return add_pending(std::move(row));
}

remote_result<void> dss_files_adapter::impl::flush() {
    if (pending.empty()) {
        return {};
    }
    const auto passphrase = read_first_line(cfg.passphrase_file);
    if (!passphrase || passphrase->empty()) {
        return make_remote_error(
            errc::auth_failed, "the passphrase file is not readable or is empty"
        );
    }
    const time_point now = env.clock->now();
    std::size_t done = 0;
    while (done < pending.size()) {
        const std::size_t n = std::min(cfg.max_rows_per_batch, pending.size() - done);
        const auto first = pending.begin() + static_cast<std::ptrdiff_t>(done);
        const auto last = first + static_cast<std::ptrdiff_t>(n);
        auto written = write_one(first, last, *passphrase, now);
        if (!written) {
            forget(done);
            return written.error();
        }
        done += n;
    }
    forget(done);
    return {};
}

// Writes pending rows [first, last) as one batch: the register entry first (so that an
// acknowledgement for a row written is never reported as unknown), then the batch.
remote_result<void> dss_files_adapter::impl::write_one(
    std::vector<pending_row>::const_iterator first,
    std::vector<pending_row>::const_iterator last,
    const std::string& passphrase,
    time_point now
) {
    files::batch b;
    std::string ids;
    exchange::csv_writer reg;
    reg.row({"exchange_id", "source_key_sha256"});
    for (auto it = first; it != last; ++it) {
        ids += it->exchange_id + "\n";
        reg.row({it->exchange_id, it->source_hash});
        b.rows.push_back(it->cells);
    }
    // Same rows, same second: the same name, so a retried flush replaces its own file.
    b.id =
        cfg.sender + "-events-" + compact_time(now) + "-" + crypto::sha256_hex(ids).substr(0, 12);
    b.schema_version = schema_version;
    b.sender = cfg.sender;
    b.header = columns;
    b.dictionary = dictionary_csv;
    if (auto r = write_file_atomically(
            cfg.sent_register / (b.id + std::string(register_suffix)), reg.text()
        );
        !r) {
        return error_for(
            errc::remote_unavailable,
            "the sent register could not be written (" + error_name(r.error()) + ")",
            b.id
        );
    }
    const auto written = files::write_batch(cfg.outbox, b, passphrase, now);
    if (!written) {
        return error_for(
            errc::remote_unavailable,
            "the batch could not be written to the outbox (" + error_name(written.error()) + ")",
            b.id
        );
    }
    if (index) {
        for (auto it = first; it != last; ++it) {
            index->known.insert(it->exchange_id);
            index->by_source[it->source_hash] = it->exchange_id;
        }
    }
    env.log.info(
        "dss.batch_written",
        "batch written to the outbox",
        {.counts = {{"rows", static_cast<std::int64_t>(b.rows.size())}}}
    );
    return {};
}

// Drops the first `n` pending rows (written).
void dss_files_adapter::impl::forget(std::size_t n) {
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
    pending_index.clear();
    for (std::size_t i = 0; i < pending.size(); ++i) {
        pending_index.emplace(pending[i].exchange_id, i);
    }
}

remote_result<std::optional<std::string>> dss_files_adapter::impl::lookup(
    const std::string& stream, const std::string& source_key
) {
    if (stream != events_stream) {
        return make_remote_error(errc::not_found, "the DSS adapter looks up stream events");
    }
    const auto& idx = load_index();
    const auto it = idx.by_source.find(source_hash(source_key));
    if (it == idx.by_source.end()) {
        return std::optional<std::string>{};
    }
    return std::optional<std::string>{it->second};
}

}  // namespace casebridge::dss_files
