// Inbound: acknowledgement and case files read from the inbox whole-checked, in pages of rows,
// with the pull cursor; unreadable files refused and quarantined; processed files pruned.
#include "dss_files/adapter_impl.hpp"

namespace casebridge::dss_files {

// --- inbound --------------------------------------------------------------------------
std::optional<std::string_view> dss_files_adapter::impl::prefix_of(std::string_view stream) {
    if (stream == acknowledgements_stream) {
        return ack_prefix;
    }
    if (stream == cases_stream) {
        return case_prefix;
    }
    return std::nullopt;
}

// The layout of a file from its header, or why the file is refused.
boost::system::result<dss_files_adapter::impl::file_layout, std::string>
dss_files_adapter::impl::layout_of(
    std::string_view stream, const exchange::csv_reader& reader, const std::string& name
) {
    file_layout out;
    out.stream = stream;
    out.name = name;
    if (stream == cases_stream) {
        auto cols = case_columns_of(reader.header(), reader.header_positions(), name);
        if (!cols) {
            return refusal{cols.error()};
        }
        out.cases = *cols;
    } else {
        auto cols = files::ack_columns_of(reader.header(), name);
        if (!cols) {
            return refusal{cols.error().message};
        }
        out.ack = *cols;
    }
    return out;
}

// The key a row is known by: the exchange id or the DSS reference.
const std::string& dss_files_adapter::impl::key_of(
    const file_layout& l, const exchange::csv_record& row
) {
    return row.fields[l.stream == cases_stream ? l.cases.reference : l.ack.id];
}

// Checks one row; with `build`, also makes its record. The error names file, line, column.
boost::system::result<std::optional<external_record>, std::string>
dss_files_adapter::impl::record_of(
    const file_layout& l,
    const exchange::csv_row& header,
    const exchange::csv_record& row,
    bool build
) {
    if (l.stream == cases_stream) {
        return case_record_of(l.cases, header, row, l.name, l.mtime, build);
    }
    auto ack = files::acknowledgement_of(l.ack, header, row, l.name);
    if (!ack) {
        return refusal{ack.error().message};
    }
    if (!build) {
        return std::optional<external_record>{};
    }
    external_record rec;
    rec.stream = std::string(acknowledgements_stream);
    rec.remote_id = ack->exchange_id;
    rec.updated_at = l.mtime;
    auto& body = rec.body;
    body.SetObject();
    auto& a = body.GetAllocator();
    const auto s = [&a](const std::string& v) { return Value(v.c_str(), a); };
    const auto& idx = load_index();
    const bool known = idx.known.find(ack->exchange_id) != idx.known.end();
    body.AddMember("exchange_id", s(ack->exchange_id), a);
    body.AddMember("status", s(ack->status), a);
    body.AddMember("dss_reference", s(ack->dss_reference), a);
    // Only a reason code the configuration lists is passed on: DSS's reason column is free
    // text, and a date or a name looks like a code.
    const bool listed = ack->reason.empty() || cfg.ack_reason_codes.contains(ack->reason);
    body.AddMember("reason", s(listed ? ack->reason : std::string(files::free_text_reason)), a);
    body.AddMember("file", s(l.name), a);
    body.AddMember("line", static_cast<std::uint64_t>(ack->line), a);
    body.AddMember("known_exchange_id", known, a);
    return std::optional<external_record>{std::move(rec)};
}

// The message for a row whose key was on an earlier line of the same file.
std::string dss_files_adapter::impl::repeated(
    const file_layout& l,
    const exchange::csv_row& header,
    const exchange::csv_record& row,
    std::size_t first_line
) {
    if (l.stream == cases_stream) {
        return located(
            l.name,
            row.positions[l.cases.reference],
            reference_column,
            "the same reference is on line " + std::to_string(first_line)
        );
    }
    return files::acknowledged_twice(header, l.ack, row, l.name);
}

// Reads a whole file once (twice when a key may repeat): is every row acceptable, and
// what is the file's digest? A refused file yields nothing.
dss_files_adapter::impl::file_check dss_files_adapter::impl::check_file(
    const fs::path& path, std::string_view stream
) {
    repeat_finder repeats;
    using no_visit = std::optional<
        bool (*)(const file_layout&, const exchange::csv_row&, const exchange::csv_record&, const exchange::csv_reader&)>;
    auto out = pass(path, stream, nullptr, &repeats, false, no_visit{});
    if (out.refused.empty() && !out.io_failed && repeats.has_candidates()) {
        auto second = pass(path, stream, nullptr, &repeats, true, no_visit{});
        if (second.io_failed || !second.refused.empty()) {
            return second;
        }
        if (second.digest != out.digest) {
            second.io_failed = true;  // it changed between the two passes: read it later
            return second;
        }
    }
    if (out.refused.empty() && !out.io_failed) {
        checked = checked_file{path.filename().string(), out.digest, out.identity};
    }
    return out;
}

// True when `path` is the file checked last, unchanged, with `digest`.
bool dss_files_adapter::impl::still_checked(const fs::path& path, const std::string& digest) const {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && checked &&
           checked->name == path.filename().string() && checked->digest == digest &&
           checked->identity == identity_of(st);
}

// The digest of `name` in the inbox when it is still the file checked last, else of its
// bytes read now; empty when it cannot be read.
std::string dss_files_adapter::impl::digest_of(const fs::path& path) {
    if (checked && still_checked(path, checked->digest)) {
        return checked->digest;
    }
    open_file f;
    if (!open_regular(path, f)) {
        return {};
    }
    file_hasher hasher;
    std::string buf(exchange::csv_reader::chunk_bytes, '\0');
    while (true) {
        const ::ssize_t n = ::read(f.fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return {};
        }
        if (n == 0) {
            break;
        }
        hasher.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    return hasher.digest();
}

dss_files_adapter::impl::file_page dss_files_adapter::impl::page_of(
    const fs::path& path, std::string_view stream, const cursor_parts& from
) {
    file_page out;
    out.next = from;
    std::int64_t unknown = 0;
    std::string failure;
    std::uint64_t end_offset = 0;
    std::size_t end_line = 0;
    const auto visit = [&](const file_layout& l,
                           const exchange::csv_row& header,
                           const exchange::csv_record& row,
                           const exchange::csv_reader& reader) {
        auto rec = record_of(l, header, row, true);
        if (!rec) {
            failure = rec.error();
            return false;
        }
        if (l.stream == acknowledgements_stream) {
            const auto& known = (*rec)->body["known_exchange_id"];
            unknown += known.GetBool() ? 0 : 1;
        }
        out.records.push_back(std::move(**rec));
        end_offset = reader.offset();
        end_line = reader.line();
        return out.records.size() < cfg.max_rows_per_page;
    };
    const auto read = pass(
        path,
        stream,
        from.offset > 0 ? &from : nullptr,
        nullptr,
        false,
        std::optional<decltype(visit)>(visit)
    );
    if (read.io_failed) {
        out.io_failed = true;
        return out;
    }
    if (!read.refused.empty() || !failure.empty()) {
        // The file was checked whole before: it changed since.
        out.io_failed = true;
        return out;
    }
    if (!checked || read.identity != checked->identity) {
        out.io_failed = true;  // changed between the check and this read
        return out;
    }
    out.next.offset = end_offset < read.identity.size ? end_offset : 0;
    out.next.line = out.next.offset == 0 ? 0 : end_line;
    if (unknown > 0) {
        env.log.warn(
            "dss.unknown_acknowledgements",
            "acknowledgements for exchange ids never written by this sender",
            {.counts = {{"acknowledgements", unknown}}}
        );
    }
    return out;
}

// Removes files of processed/ delivered more than processed_retention_days ago.
void dss_files_adapter::impl::prune_processed() {
    if (cfg.processed_retention_days == 0) {
        return;
    }
    const fs::path dir = cfg.inbox / processed_folder;
    auto files = list_files(dir, [](const std::string& n) { return n.front() != '.'; });
    if (!files) {
        return;  // no processed/ folder yet
    }
    const auto cutoff = env.clock->now() - std::chrono::days(cfg.processed_retention_days);
    std::int64_t removed = 0;
    for (const auto& name : *files) {
        std::error_code ec;
        const auto ft = fs::last_write_time(dir / name, ec);
        if (!ec && std::chrono::file_clock::to_sys(ft) < cutoff && fs::remove(dir / name, ec)) {
            ++removed;
        }
    }
    if (removed > 0) {
        (void)fsync_directory(dir);
        env.log.info(
            "dss.processed_pruned",
            "processed inbound files past their retention removed",
            {.counts = {{"files", removed}}}
        );
    }
}

// Quarantines a refused file and returns the error that reports it.
remote_error dss_files_adapter::impl::refuse(const std::string& name, const std::string& reason) {
    if (auto q = files::quarantine(cfg.inbox / name, reason); !q) {
        return error_for(
            errc::remote_unavailable,
            "an unreadable file could not be moved to rejected (" + error_name(q.error()) + ")",
            name
        );
    }
    env.log.warn("dss.file_rejected", "inbound file moved to rejected with its reason");
    return error_for(errc::bad_payload, reason, name);
}

remote_result<pull_page> dss_files_adapter::impl::pull(
    const std::string& stream, const std::optional<std::string>& c
) {
    const auto prefix = prefix_of(stream);
    if (!prefix) {
        return make_remote_error(
            errc::not_found, "the DSS adapter pulls streams acknowledgements and cases"
        );
    }
    // The cursor names the last file returned, its digest and, while rows of it remain,
    // where they start. A file returned whole was settled by the engine: it moves on. A file
    // that has since been replaced by another of the same name stays.
    std::optional<cursor_parts> resume;
    if (c && !c->empty()) {
        const auto settled = decode_cursor(*c, *prefix);
        if (!settled) {
            return make_remote_error(errc::invalid_config, "unrecognised DSS cursor");
        }
        const fs::path path = cfg.inbox / settled->name;
        if (settled->offset > 0) {
            resume = settled;
        } else if (!settled->name.empty() && digest_of(path) == settled->digest) {
            if (auto moved = files::move_aside(path, processed_folder); !moved) {
                return error_for(
                    errc::remote_unavailable,
                    "a settled file could not be moved to processed (" + error_name(moved.error()) +
                        ")",
                    settled->name
                );
            }
        }
        if (!resume) {
            prune_processed();
        }
    }
    auto files = list_files(cfg.inbox, [&](const std::string& n) {
        return inbound_name(n, *prefix, false);
    });
    if (!files) {
        return make_remote_error(errc::remote_unavailable, "the inbox cannot be read");
    }
    pull_page page;
    page.next_cursor = c && !c->empty() ? *c : std::string(cursor_prefix);
    cursor_parts from;
    if (resume) {
        // Rows of a file remain: read on if it is still the same file, checking it whole
        // again after a restart.
        const fs::path path = cfg.inbox / resume->name;
        if (still_checked(path, resume->digest) ||
            check_file(path, stream).digest == resume->digest) {
            from = *resume;
        } else {
            env.log.warn(
                "dss.file_changed",
                "an inbound file changed or went away part-way through: read from the start"
            );
        }
    }
    if (from.name.empty()) {
        if (files->empty()) {
            return page;
        }
        from.name = files->front();
        const auto check = check_file(cfg.inbox / from.name, stream);
        if (check.io_failed) {
            return error_for(errc::remote_unavailable, "the file cannot be read", from.name);
        }
        if (!check.refused.empty()) {
            // Nothing of the file is returned: it is moved aside whole, with the reason.
            return refuse(from.name, check.refused);
        }
        from.digest = check.digest;
    }
    auto read = page_of(cfg.inbox / from.name, stream, from);
    if (read.io_failed) {
        checked.reset();
        return error_for(errc::remote_unavailable, "the file cannot be read", from.name);
    }
    env.log.info(
        "dss.file_read",
        "inbound file read",
        {.counts = {{"records", static_cast<std::int64_t>(read.records.size())}}}
    );
    page.records = std::move(read.records);
    page.next_cursor = encode_cursor(read.next);
    page.has_more = read.next.offset > 0 ||
                    std::count_if(files->begin(), files->end(), [&](const std::string& n) {
                        return n != from.name;
                    }) > 0;
    return page;
}

remote_result<external_record> dss_files_adapter::impl::fetch(
    const std::string& stream, const std::string& id
) {
    const auto prefix = prefix_of(stream);
    if (!prefix) {
        return error_for(
            errc::not_found, "the DSS adapter keeps no copy of the events it wrote", id
        );
    }
    std::optional<external_record> best;
    std::string best_key;
    scan_inbound(
        stream,
        *prefix,
        [&](const std::string& key) { return key == id; },
        [&](const std::string& name, external_record&& rec) {
            // The newest version wins; among equal versions, the later file.
            std::string key = rec.updated_at + "\n" + name;
            if (!best || key > best_key) {
                best_key = std::move(key);
                best = std::move(rec);
            }
        },
        true
    );
    if (!best) {
        return error_for(errc::not_found, "no such record in the inbox files", id);
    }
    return std::move(*best);
}

// --- health ---------------------------------------------------------------------------
remote_result<void> dss_files_adapter::impl::probe() const {
    const std::pair<const fs::path*, const char*> folders[] = {
        {&cfg.outbox, "the outbox folder is missing or not writable"},
        {&cfg.inbox, "the inbox folder is missing or not writable"},
        {&cfg.sent_register, "the sent register folder is missing or not writable"},
    };
    for (const auto& [dir, message] : folders) {
        std::error_code ec;
        if (!fs::is_directory(*dir, ec) || ::access(dir->c_str(), W_OK | X_OK) != 0) {
            return make_remote_error(errc::remote_unavailable, message);
        }
    }
    struct stat st {};
    if (::stat(cfg.passphrase_file.c_str(), &st) != 0) {
        return make_remote_error(errc::auth_failed, "the passphrase file is not readable");
    }
    if ((st.st_mode & 077U) != 0) {
        return make_remote_error(
            errc::auth_failed, "the passphrase file is readable by group or others"
        );
    }
    const auto passphrase = read_first_line(cfg.passphrase_file);
    if (!passphrase || passphrase->empty()) {
        return make_remote_error(
            errc::auth_failed, "the passphrase file is not readable or is empty"
        );
    }
    return {};
}

}  // namespace casebridge::dss_files
