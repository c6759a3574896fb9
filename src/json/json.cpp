#include "json/json.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/text_fingerprint.hpp"

namespace casebridge::json {
namespace {

// Numbers come to the guard as text (kParseNumbersAsStringsFlag) and are converted there with
// std::from_chars: RapidJSON 1.1.0's own conversion at full precision reads out of bounds for a
// long fraction of zeros with an exponent (found by the json fuzz target: a SEGV), passes zero
// to clz, and turns 2e308 into infinity. Its grammar checks still run first.
constexpr unsigned strict_flags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
    rapidjson::kParseFullPrecisionFlag | rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned comment_flags =
    strict_flags | rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag;
// The same without RapidJSON's per-character encoding check, for a text already found to be
// well-formed UTF-8 as a whole (first_invalid_utf8): every string in it then is too, so the
// parse is the same, at about twice the speed. A text that is not goes through the checking
// flags, so its error is the one RapidJSON gives, at the same place.
constexpr unsigned without_encoding_check = ~rapidjson::kParseValidateEncodingFlag;
// RapidJSON's recursive parser is faster than its iterative one; it is used only when the
// depth limit bounds the recursion (the guard stops the parse at the limit, before RapidJSON
// recurses further), and never for located parsing, whose offsets follow the iterative
// parser's order of events.
constexpr unsigned without_iteration = ~rapidjson::kParseIterativeFlag;
constexpr std::size_t most_recursive_depth = 256;

/// Parses with `Flags` less the encoding check when `checked`, less iteration when
/// `recursive`.
template <unsigned Flags, typename Stream, typename Handler>
void parse_as(rapidjson::Reader& reader, Stream& stream, Handler& h, bool checked, bool recursive) {
    if (checked && recursive) {
        reader.Parse<Flags & without_encoding_check & without_iteration>(stream, h);
    } else if (checked) {
        reader.Parse<Flags & without_encoding_check>(stream, h);
    } else if (recursive) {
        reader.Parse<Flags & without_iteration>(stream, h);
    } else {
        reader.Parse<Flags>(stream, h);
    }
}

// Offset of the first byte of `text` that does not start a well-formed UTF-8 sequence (the
// Unicode Standard's Table 3-7: no overlong form, no surrogate, nothing above U+10FFFF; the
// ranges RapidJSON's own check accepts), or npos when there is none. ASCII 32 or 8 bytes at
// a time.
std::size_t first_invalid_utf8(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
    while (i < n) {
        if (i + 32 <= n) {
            std::uint64_t words[4];
            std::memcpy(words, p + i, sizeof words);
            if (((words[0] | words[1] | words[2] | words[3]) & high_bits) == 0) {
                i += 32;
                continue;
            }
        }
        if (i + 8 <= n) {
            std::uint64_t word = 0;
            std::memcpy(&word, p + i, sizeof word);
            if ((word & high_bits) == 0) {
                i += 8;
                continue;
            }
        }
        const unsigned c = p[i];
        if (c < 0x80U) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80U;  // range of the second byte
        unsigned hi = 0xBFU;
        if (c >= 0xC2U && c <= 0xDFU) {
            len = 2;
        } else if (c == 0xE0U) {
            len = 3;
            lo = 0xA0U;
        } else if (c == 0xEDU) {
            len = 3;
            hi = 0x9FU;
        } else if (c >= 0xE1U && c <= 0xEFU) {
            len = 3;
        } else if (c == 0xF0U) {
            len = 4;
            lo = 0x90U;
        } else if (c >= 0xF1U && c <= 0xF3U) {
            len = 4;
        } else if (c == 0xF4U) {
            len = 4;
            hi = 0x8FU;
        } else {
            return i;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) {
            return i;
        }
        for (std::size_t k = 2; k < len; ++k) {
            if ((p[i + k] & 0xC0U) != 0x80U) {
                return i;
            }
        }
        i += len;
    }
    return std::string_view::npos;
}

// The power of ten of a JSON number's first significant digit, plus one (0.05 gives -1, 12
// gives 2); tells an overflow from an underflow when std::from_chars says out of range.
long decimal_magnitude(std::string_view t) {
    std::size_t i = t.empty() || t.front() != '-' ? 0 : 1;
    long integer_digits = 0;
    long leading_fraction_zeros = 0;
    bool significant = false;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
        significant = significant || t[i] != '0';
        integer_digits += significant ? 1 : 0;
    }
    if (i < t.size() && t[i] == '.') {
        for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
            if (!significant && t[i] == '0') {
                ++leading_fraction_zeros;
            } else {
                significant = true;
            }
        }
    }
    long exponent = 0;
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        const bool minus = i < t.size() && t[i] == '-';
        i += i < t.size() && (t[i] == '-' || t[i] == '+') ? 1 : 0;
        for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
            exponent = std::min(exponent * 10 + (t[i] - '0'), 100000L);
        }
        exponent = minus ? -exponent : exponent;
    }
    if (!significant) {
        return std::numeric_limits<long>::min() / 2;  // zero
    }
    return (integer_digits > 0 ? integer_digits : -leading_fraction_zeros) + exponent;
}

// SipHash-1-3 (Aumasson and Bernstein) under a 128-bit key drawn once per process: a text whose
// author does not know the key cannot choose object keys that all fall into one slot of the
// duplicate-key tables below.
class key_hasher {
public:
    static const key_hasher& instance() {
        static const key_hasher hasher;
        return hasher;
    }

    std::uint64_t operator()(const char* s, std::size_t n) const noexcept {
        std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0_;
        std::uint64_t v1 = 0x646f72616e646f6dULL ^ k1_;
        std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0_;
        std::uint64_t v3 = 0x7465646279746573ULL ^ k1_;
        // Inlined: as a call, the round showed in the parse profile.
        const auto round = [&]() __attribute__((always_inline)) {
            v0 += v1;
            v1 = std::rotl(v1, 13);
            v1 ^= v0;
            v0 = std::rotl(v0, 32);
            v2 += v3;
            v3 = std::rotl(v3, 16);
            v3 ^= v2;
            v0 += v3;
            v3 = std::rotl(v3, 21);
            v3 ^= v0;
            v2 += v1;
            v1 = std::rotl(v1, 17);
            v1 ^= v2;
            v2 = std::rotl(v2, 32);
        };
        const std::size_t whole = n - n % 8;
        for (std::size_t i = 0; i < whole; i += 8) {
            std::uint64_t m = 0;
            if constexpr (std::endian::native == std::endian::little) {
                std::memcpy(&m, s + i, 8);
            } else {
                for (std::size_t b = 0; b < 8; ++b) {  // little-endian load, as the reference
                    m |= std::uint64_t{static_cast<unsigned char>(s[i + b])} << (8 * b);
                }
            }
            v3 ^= m;
            round();
            v0 ^= m;
        }
        std::uint64_t last = std::uint64_t{n & 0xffU} << 56;
        for (std::size_t b = 0; b < n % 8; ++b) {
            last |= std::uint64_t{static_cast<unsigned char>(s[whole + b])} << (8 * b);
        }
        v3 ^= last;
        round();
        v0 ^= last;
        v2 ^= 0xff;
        round();
        round();
        round();
        return v0 ^ v1 ^ v2 ^ v3;
    }

private:
    key_hasher() {
        std::random_device random;
        const auto draw = [&random] {
            return (std::uint64_t{random()} << 32) ^ std::uint64_t{random()};
        };
        k0_ = draw();
        k1_ = draw();
    }
    std::uint64_t k0_ = 0;
    std::uint64_t k1_ = 0;
};

// Up to this many keys an object is checked for duplicates by comparing with each earlier
// key (cheap for the small objects of real records); beyond it, by a set of its keys, so an
// object of n keys costs O(n) however large n is.
constexpr std::size_t linear_scan_keys = 16;

// A probe longer than this in a table at most half full means the keys' quick hashes cluster:
// chance with real keys, or a text made so that they collide. Either way the object's table is
// rebuilt on the keyed hash, which no text can aim at, and stays on it.
constexpr std::size_t longest_quick_probe = 24;

// The keys of one large object: indexes into the handler's key list with their hashes, in
// one open-addressing table (linear probing, at most half full), so a lookup is one or two
// cache lines and growing it is a sequential pass, whatever the number of keys. Hashes are
// first the quick ones (spread fingerprints); once a probe runs long, the keyed ones.
class key_table {
    struct slot {
        std::uint64_t hash = 0;
        std::size_t index_plus_one = 0;  // 0: empty
    };

public:
    enum class added { yes, duplicate, long_probe };
    using storage = std::vector<slot>;

    /// Takes `spare`, a table's storage given up earlier, as this empty table's storage.
    void adopt(storage&& spare) noexcept {
        slots_ = std::move(spare);
        std::fill(slots_.begin(), slots_.end(), slot{});
    }
    /// Gives up the storage, for adopt().
    storage release() noexcept {
        size_ = 0;
        keyed_ = false;
        return std::move(slots_);
    }

    bool empty() const noexcept { return slots_.empty(); }
    bool keyed() const noexcept { return keyed_; }
    /// Whether the storage is small enough to keep for another object: adopting it costs
    /// clearing all of it, which must not grow with the largest object a text held (a huge
    /// object followed by many just over linear_scan_keys would cost their number times its
    /// size).
    bool worth_keeping() const noexcept { return slots_.size() <= kept_slots; }

    /// Adds key `index` with its `hash` unless a key equal to it (by `same(earlier, index)`)
    /// is already present. On quick hashes, gives up (long_probe) rather than probe further.
    template <typename Same>
    added insert(std::uint64_t hash, std::size_t index, const Same& same) {
        if ((size_ + 1) * 2 > slots_.size()) {
            grow();
        }
        const std::size_t mask = slots_.size() - 1;
        std::size_t probes = 0;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            slot& s = slots_[i];
            if (s.index_plus_one == 0) {
                s = {hash, index + 1};
                ++size_;
                return added::yes;
            }
            if (s.hash == hash && same(s.index_plus_one - 1, index)) {
                return added::duplicate;
            }
            if (!keyed_ && ++probes > longest_quick_probe) {
                return added::long_probe;
            }
        }
    }

    /// Empties the table and has it take keyed hashes from now on.
    void rekey() {
        std::fill(slots_.begin(), slots_.end(), slot{});
        size_ = 0;
        keyed_ = true;
    }

private:
    static constexpr std::size_t kept_slots = 256;

    void grow() {
        // 128 slots hold the 64 keys of a large record's top level without growing again.
        std::vector<slot> old(std::max<std::size_t>(128, slots_.size() * 2));
        old.swap(slots_);
        const std::size_t mask = slots_.size() - 1;
        for (const slot& s : old) {
            if (s.index_plus_one != 0) {
                std::size_t i = s.hash & mask;
                while (slots_[i].index_plus_one != 0) {
                    i = (i + 1) & mask;
                }
                slots_[i] = s;
            }
        }
    }

    std::vector<slot> slots_;
    std::size_t size_ = 0;
    bool keyed_ = false;
};

// The guard's working memory: the open containers, and the keys of the open objects.
struct guard_scratch {
    struct key_entry {
        std::uint64_t hash;  // text_fingerprint
        std::size_t offset;  // in the text when verbatim, else in arena
        std::size_t length;
    };
    struct frame {
        bool is_object;
        std::size_t first_key;   // index into keys of this object's first key
        std::size_t index;       // number of elements read so far (arrays)
        std::size_t arena_size;  // arena size to restore on close
        std::size_t value;       // index into the located values of this container (Track)
        // This object's keys, once it has more than linear_scan_keys of them.
        key_table seen = {};
    };

    std::vector<frame> frames;
    std::vector<key_entry> keys;
    std::string arena;
    std::string text;  // the text, NUL-terminated for the reader
    // Storage of large objects' key tables, given up when their objects closed.
    std::vector<key_table::storage> spare_tables;
    bool in_use = false;
};

// Lends the calling thread's guard_scratch to one parse, emptied, so that parsing record after
// record allocates none of it once warm (allocation was a tenth of a record's parse). A parse
// within a parse, which nothing does today, gets its own. Memory beyond what ordinary records
// need is given back after the parse, so one large file does not stay held.
class scratch_lease {
public:
    scratch_lease() : scratch_(kept().in_use ? own_ : kept()) {
        scratch_.in_use = true;
        scratch_.frames.clear();
        scratch_.keys.clear();
        scratch_.arena.clear();
        scratch_.text.clear();
    }
    ~scratch_lease() {
        constexpr std::size_t keep_at_most = 256 * 1024;
        std::size_t kept = scratch_.keys.capacity() * sizeof(guard_scratch::key_entry) +
                           scratch_.frames.capacity() * sizeof(guard_scratch::frame) +
                           scratch_.arena.capacity() + scratch_.text.capacity();
        for (const auto& t : scratch_.spare_tables) {
            kept += t.capacity() * sizeof(t[0]);
        }
        if (kept > keep_at_most) {
            scratch_.keys = {};
            scratch_.frames = {};
            scratch_.arena = {};
            scratch_.text = {};
            scratch_.spare_tables = {};
        }
        scratch_.frames.clear();  // frees large objects' key tables
        scratch_.in_use = false;
    }
    scratch_lease(const scratch_lease&) = delete;
    scratch_lease& operator=(const scratch_lease&) = delete;

    guard_scratch& get() noexcept { return scratch_; }

private:
    static guard_scratch& kept() {
        thread_local guard_scratch scratch;
        return scratch;
    }
    guard_scratch own_;
    guard_scratch& scratch_;
};

// A string stream that RapidJSON reads in place (no local copies), so its position is exact
// whenever a handler runs. RapidJSON copies its own StringStream for speed and writes the
// position back only after the handler returns; located parsing needs the exact position.
struct exact_stream : rapidjson::StringStream {
    using rapidjson::StringStream::StringStream;
};

// Wraps the document's SAX handler: checks depth and duplicate keys, and (when Track) records
// each value in document order: the byte offset where it starts (for object members: where its
// key starts) and where its descendants end. No JSON Pointer is built per value: a deep path
// repeated for each of many values made the memory grow with depth times count.
template <bool Track, typename Stream>
class guard_handler {
    using key_entry = guard_scratch::key_entry;
    using frame = guard_scratch::frame;

public:
    guard_handler(
        const Stream& stream,
        std::string_view text,
        std::size_t max_depth,
        std::vector<detail::located_value>* values,
        bool check_surrogates,
        bool recursive,
        guard_scratch& scratch
    )
        : stream_(stream),
          text_(text),
          max_depth_(max_depth),
          values_(values),
          check_surrogates_(check_surrogates),
          recursive_(recursive),
          frames_(scratch.frames),
          keys_(scratch.keys),
          arena_(scratch.arena),
          spare_tables_(scratch.spare_tables) {}

    void set_target(rapidjson::Document* out) noexcept { out_ = out; }

    bool Null() { return value() && out_->Null(); }
    bool Bool(bool b) { return value() && out_->Bool(b); }
    bool Int(int i) { return value() && out_->Int(i); }
    bool Uint(unsigned u) { return value() && out_->Uint(u); }
    bool Int64(std::int64_t i) { return value() && out_->Int64(i); }
    bool Uint64(std::uint64_t u) { return value() && out_->Uint64(u); }
    // Not called: numbers come as text (kParseNumbersAsStringsFlag) to RawNumber below.
    bool Double(double d) { return value() && out_->Double(d); }
    // A number, as JSON text RapidJSON has checked against the grammar; stored as RapidJSON
    // would store it (Int, Uint, Int64, Uint64, else Double), converted by std::from_chars.
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        const char* const end = s + n;
        const std::string_view t(s, n);
        if (t.find_first_of(".eE") == std::string_view::npos) {
            if (!t.empty() && t.front() == '-') {
                std::int64_t v = 0;
                const auto r = std::from_chars(s, end, v);
                if (r.ec == std::errc{} && r.ptr == end) {
                    return value() && (v >= std::numeric_limits<std::int32_t>::min()
                                           ? out_->Int(static_cast<int>(v))
                                           : out_->Int64(v));
                }
            } else {
                std::uint64_t v = 0;
                const auto r = std::from_chars(s, end, v);
                if (r.ec == std::errc{} && r.ptr == end) {
                    return value() && (v <= std::numeric_limits<std::uint32_t>::max()
                                           ? out_->Uint(static_cast<unsigned>(v))
                                           : out_->Uint64(v));
                }
            }
            // Beyond 64 bits: a double, as RapidJSON reads it.
        }
        double d = 0;
        const auto r = std::from_chars(s, end, d);
        if (r.ec == std::errc::result_out_of_range) {
            if (decimal_magnitude(t) > 0) {
                why_ = "a number too large for a double (more than about 1.8e308)";
                fail(errc::invalid_json, {});
                return false;
            }
            d = t.front() == '-' ? -0.0 : 0.0;  // below the smallest double: zero
        } else if (r.ec != std::errc{} || r.ptr != end) {
            why_ = "a number that cannot be read";
            fail(errc::invalid_json, {});
            return false;
        }
        return value() && out_->Double(d);
    }
    // The document always takes its own copy: a string parsed in place stands in the parse's
    // scratch buffer, which the next parse overwrites.
    bool String(const char* s, rapidjson::SizeType n, bool /*copy*/) {
        if (lone_surrogate(s, n)) {
            return false;
        }
        return value() && out_->String(s, n, true);
    }

    bool StartObject() { return open(true) && out_->StartObject(); }
    bool EndObject(rapidjson::SizeType n) {
        close();
        return out_->EndObject(n);
    }
    bool StartArray() { return open(false) && out_->StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        close();
        return out_->EndArray(n);
    }

    bool Key(const char* s, rapidjson::SizeType n, bool /*copy*/) {
        if (lone_surrogate(s, n)) {
            return false;
        }
        frame& f = frames_.back();
        std::size_t at = 0;
        if constexpr (verbatim) {
            // Parsed in place: the key, unescaped, stands in the buffer, and later strings
            // are unescaped after it, so it stays there until the parse ends.
            at = static_cast<std::size_t>(s - text_.data());
            assert(at + n <= text_.size());
        } else {
            at = arena_.size();
            arena_.append(s, n);
        }
        // A quick filter before the bytes are compared (core/text_fingerprint.hpp).
        keys_.push_back({text_fingerprint({key_bytes() + at, n}), at, n});
        const std::size_t index = keys_.size() - 1;
        const bool duplicate = f.seen.empty() && index - f.first_key <= linear_scan_keys
                                   ? seen_before(f, index)
                                   : !add_to_table(f, index);
        if (duplicate) {
            keys_.pop_back();
            if constexpr (!verbatim) {
                arena_.resize(arena_.size() - n);
            }
            fail(errc::duplicate_key, std::string(s, n));
            return false;
        }
        if constexpr (Track) {
            key_offset_ = start_of_next();
            previous_end_ = offset();
        }
        return out_->Key(s, n, true);
    }

    // Error state, read after the reader stops.
    bool failed() const noexcept { return failed_; }
    const std::string& why() const noexcept { return why_; }
    errc error_code() const noexcept { return code_; }
    std::size_t error_offset() const noexcept { return error_offset_; }
    const std::string& error_pointer() const noexcept { return error_pointer_; }
    const std::string& error_key() const noexcept { return error_key_; }

private:
    // Whether key `index` equals one of its object's earlier keys, compared one by one.
    bool seen_before(const auto& f, std::size_t index) const noexcept {
        for (std::size_t i = f.first_key; i < index; ++i) {
            if (same_key(i, index)) {
                return true;
            }
        }
        return false;
    }

    // Adds key `index` to its object's table (made on the first key past linear_scan_keys,
    // from all of the object's keys); false when it is a duplicate.
    bool add_to_table(auto& f, std::size_t index) {
        const auto same = [this](std::size_t a, std::size_t b) { return same_key(a, b); };
        const auto hash = [this, &f](std::size_t i) {
            return f.seen.keyed()
                       ? key_hasher::instance()(key_bytes() + keys_[i].offset, keys_[i].length)
                       : spread_fingerprint(keys_[i].hash);
        };
        const bool made = f.seen.empty();
        if (made && !spare_tables_.empty()) {
            f.seen.adopt(std::move(spare_tables_.back()));
            spare_tables_.pop_back();
        }
        // The earlier keys are distinct (each was checked); the new one is inserted last.
        for (std::size_t i = made ? f.first_key : index; i <= index;) {
            switch (f.seen.insert(hash(i), i, same)) {
                case key_table::added::yes:
                    ++i;
                    break;
                case key_table::added::duplicate:
                    return false;
                case key_table::added::long_probe:
                    f.seen.rekey();
                    i = f.first_key;
                    break;
            }
        }
        return true;
    }

    // RapidJSON 1.1.0 turns an escaped low surrogate without its high one (\uDE00) into the
    // three bytes ED B8 80, which are not UTF-8; the raw text was validated, so only an
    // escape can produce ED followed by A0..BF. Fails the parse when it finds one.
    bool lone_surrogate(const char* s, std::size_t n) {
        if (!check_surrogates_) {
            return false;
        }
        for (std::size_t i = 0; i + 1 < n; ++i) {
            if (static_cast<unsigned char>(s[i]) == 0xEDU &&
                static_cast<unsigned char>(s[i + 1]) >= 0xA0U) {
                why_ = "an escaped surrogate (\\uD800-\\uDFFF) without its pair";
                fail(errc::invalid_json, {});
                return true;
            }
        }
        return false;
    }

    // Where keys' offsets count from.
    const char* key_bytes() const noexcept {
        if constexpr (verbatim) {
            return text_.data();
        } else {
            return arena_.data();
        }
    }
    bool same_key(std::size_t a, std::size_t b) const noexcept {
        const key_entry& x = keys_[a];
        const key_entry& y = keys_[b];
        return x.hash == y.hash && x.length == y.length &&
               std::memcmp(key_bytes() + x.offset, key_bytes() + y.offset, x.length) == 0;
    }

    // Records the value about to be read, starting at `at` (its key's start for an object
    // member); returns its index.
    std::size_t record(std::size_t at, bool is_object) {
        if (!frames_.empty() && frames_.back().is_object) {
            at = key_offset_;
        }
        const std::size_t index = values_->size();
        detail::located_value v;
        v.offset = static_cast<std::uint32_t>(at);
        v.end = static_cast<std::uint32_t>(index + 1);
        v.is_object = is_object ? 1U : 0U;
        values_->push_back(v);
        return index;
    }

    // Offset of the first byte after `previous_end_` that is not whitespace, ',', ':' or a
    // comment: where the next token starts.
    std::size_t start_of_next() const {
        std::size_t i = previous_end_;
        while (i < text_.size()) {
            const char c = text_[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ':') {
                ++i;
            } else if (c == '/' && i + 1 < text_.size() && text_[i + 1] == '/') {
                while (i < text_.size() && text_[i] != '\n') {
                    ++i;
                }
            } else if (c == '/' && i + 1 < text_.size() && text_[i + 1] == '*') {
                const auto close = text_.find("*/", i + 2);
                i = close == std::string_view::npos ? text_.size() : close + 2;
            } else {
                break;
            }
        }
        return i;
    }

    // Called for each scalar value.
    bool value() {
        if constexpr (Track) {
            record(start_of_next(), false);
            previous_end_ = offset();
        }
        if (!frames_.empty() && !frames_.back().is_object) {
            ++frames_.back().index;
        }
        return true;
    }

    bool open(bool is_object) {
        if (frames_.size() >= max_depth_) {
            fail(errc::too_deep, {});
            return false;
        }
        std::size_t index = 0;
        if constexpr (Track) {
            // RapidJSON's iterative parser calls StartObject/StartArray (and the End events)
            // before it consumes the bracket: offset() is the bracket itself.
            index = record(offset(), is_object);
            previous_end_ = offset() + 1;
        }
        if (!frames_.empty() && !frames_.back().is_object) {
            ++frames_.back().index;
        }
        frames_.push_back({is_object, keys_.size(), 0, arena_.size(), index, {}});
        return true;
    }

    void close() {
        frame& f = frames_.back();
        if (!f.seen.empty() && f.seen.worth_keeping()) {
            spare_tables_.push_back(f.seen.release());
        }
        keys_.resize(f.first_key);
        arena_.resize(f.arena_size);
        if constexpr (Track) {
            (*values_)[f.value].end = static_cast<std::uint32_t>(values_->size());
            previous_end_ = offset() + 1;
        }
        frames_.pop_back();
    }

    // Exact for exact_stream. For RapidJSON's InsituStringStream (untracked parsing) it is the
    // start of the current string or number token, which is where errors should point anyway.
    // (Read from the stream's fields: InsituStringStream::Tell is not const.)
    std::size_t offset() const noexcept {
        return static_cast<std::size_t>(stream_.src_ - stream_.head_);
    }

    // Pointer of the innermost open container.
    std::string container_pointer() const {
        std::string p;
        for (std::size_t depth = 0; depth + 1 < frames_.size(); ++depth) {
            const frame& f = frames_[depth];
            p += '/';
            if (f.is_object) {
                const key_entry& k = keys_[frames_[depth + 1].first_key - 1];
                p += escape_pointer_token({key_bytes() + k.offset, k.length});
            } else {
                p += std::to_string(f.index - 1);
            }
        }
        return p;
    }

    void fail(errc code, std::string key) {
        failed_ = true;
        code_ = code;
        error_offset_ = Track ? start_of_next() : offset();
        if (code == errc::too_deep && recursive_ && error_offset_ > 0) {
            --error_offset_;  // the bracket, as the iterative parser reports it
        }
        error_pointer_ = container_pointer();
        if (code == errc::duplicate_key) {
            error_pointer_ += '/' + escape_pointer_token(key);
        }
        error_key_ = std::move(key);
    }

    rapidjson::Document* out_ = nullptr;
    const Stream& stream_;
    std::string_view text_;
    std::size_t max_depth_;
    std::vector<detail::located_value>* values_;
    bool check_surrogates_;  // false when the text has no \u escape to make one
    bool recursive_;         // RapidJSON's recursive parser: a bracket is read before its event
    // Keys are read where they stand in the buffer, not kept in arena_: untracked parsing,
    // which is in place (RapidJSON unescapes each string where it stands). Located parsing
    // keeps its keys in arena_.
    static constexpr bool verbatim = !Track;

    std::vector<frame>& frames_;
    std::vector<key_entry>& keys_;
    std::string& arena_;
    std::vector<key_table::storage>& spare_tables_;
    std::size_t key_offset_ = 0;  // where the last key read starts (Track)
    std::size_t previous_end_ = 0;

    bool failed_ = false;
    std::string why_;  // the message of an invalid_json failure
    errc code_ = errc::invalid_json;
    std::size_t error_offset_ = 0;
    std::string error_pointer_;
    std::string error_key_;
};

// Offsets where lines start; Offset is std::uint32_t for located documents (at most 2 GiB).
template <typename Offset = std::size_t>
std::vector<Offset> compute_line_starts(std::string_view text) {
    std::vector<Offset> starts{0};
    for (std::size_t i = 0; i < text.size(); ++i) {
        // LF, CR LF and a lone CR (old Mac files) each end a line.
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) {
            starts.push_back(static_cast<Offset>(i + 1));
        }
    }
    return starts;
}

template <typename Offset>
text_position position_in(
    std::string_view text, const std::vector<Offset>& starts, std::size_t offset
) {
    offset = std::min(offset, text.size());
    const auto it = std::upper_bound(starts.begin(), starts.end(), offset);
    const std::size_t line = static_cast<std::size_t>(it - starts.begin());
    const std::size_t begin = *(it - 1);
    std::size_t column = 1;
    for (std::size_t i = begin; i < offset; ++i) {
        // Count code points: skip UTF-8 continuation bytes.
        if ((static_cast<unsigned char>(text[i]) & 0xC0U) != 0x80U) {
            ++column;
        }
    }
    return {line, column};
}

std::string too_large_message(std::size_t size, std::size_t limit) {
    return "text is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(limit);
}

// Track: records every value into `values`; `text` must then be NUL-terminated (the text of
// a located_document), and `line_starts` its line starts.
template <bool Track>
json_result<rapidjson::Document> parse_impl(
    std::string_view text,
    dialect d,
    parse_limits limits,
    std::vector<detail::located_value>* values,
    const std::vector<std::uint32_t>* line_starts
) {
    auto make_error = [&](errc code, std::size_t offset, std::string pointer, std::string msg) {
        json_error e;
        e.code = code;
        e.offset = offset;
        if (line_starts != nullptr) {
            e.position = position_in(text, *line_starts, offset);
        } else {
            const auto starts = compute_line_starts(text.substr(0, std::min(offset, text.size())));
            e.position = position_in(text, starts, offset);
        }
        e.pointer = std::move(pointer);
        e.message = std::move(msg);
        return e;
    };
    if (text.size() > limits.max_bytes) {
        return make_error(errc::too_large, 0, {}, too_large_message(text.size(), limits.max_bytes));
    }
    // RapidJSON reads a NUL-terminated string and takes a NUL for the end of the text, which
    // would accept `{"a":1}\0anything`. JSON text never holds a raw NUL (in a string it is
    // written \u0000), so one anywhere is an error, at its own place.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
        return make_error(
            errc::invalid_json,
            nul,
            {},
            "a NUL byte (U+0000); JSON text holds none, escaped \\u0000 in a string is fine"
        );
    }
    // The reader needs a NUL-terminated buffer, and more: RapidJSON 1.1.0 validates a UTF-8
    // sequence by reading every continuation byte its lead byte announces, even past a NUL, so
    // a text ending in a cut sequence (a lone 0xEF) would be read beyond its end. Three more
    // NULs keep every such read inside the buffer (found by the ping_status fuzz target).
    scratch_lease scratch;
    std::string& owned = scratch.get().text;
    owned.reserve(text.size() + 4);
    owned.assign(text);
    owned.append(3, '\0');
    // Untracked parsing is in place (kParseInsituFlag): RapidJSON unescapes each string where
    // it stands in this copy of the text instead of pushing it byte by byte onto its stack,
    // and the handler copies it into the document. Located parsing is not: its offsets are
    // read from the text as parsed, which unescaping in place would overwrite.
    char* const begin = owned.data();
    using stream_type = std::conditional_t<Track, exact_stream, rapidjson::InsituStringStream>;
    stream_type stream(begin);
    constexpr unsigned in_place = Track ? 0U : unsigned{rapidjson::kParseInsituFlag};
    // Only an escape can make a lone surrogate once the raw bytes are known to be UTF-8.
    const bool checked = first_invalid_utf8(text) == std::string_view::npos;
    const bool escapes = text.find("\\u") != std::string_view::npos;
    const bool recursive = !Track && limits.max_depth <= most_recursive_depth;
    guard_handler<Track, stream_type> guard(
        stream,
        std::string_view(begin, text.size()),
        limits.max_depth,
        values,
        !checked || escapes,
        recursive,
        scratch.get()
    );
    rapidjson::Document doc;
    rapidjson::Reader reader;
    bool ok = false;
    auto generator = [&](rapidjson::Document& target) {
        guard.set_target(&target);
        if (d == dialect::strict) {
            parse_as<strict_flags | in_place>(reader, stream, guard, checked, recursive);
        } else {
            parse_as<comment_flags | in_place>(reader, stream, guard, checked, recursive);
        }
        ok = !reader.HasParseError();
        return ok;
    };
    doc.Populate(generator);
    if (ok) {
        return doc;
    }
    if (guard.failed()) {
        if (guard.error_code() == errc::invalid_json) {
            return make_error(
                errc::invalid_json, guard.error_offset(), guard.error_pointer(), guard.why()
            );
        }
        if (guard.error_code() == errc::duplicate_key) {
            return make_error(
                errc::duplicate_key,
                guard.error_offset(),
                guard.error_pointer(),
                "duplicate key \"" + guard.error_key() + "\" at " +
                    (guard.error_pointer().empty() ? "/" : guard.error_pointer())
            );
        }
        return make_error(
            errc::too_deep,
            guard.error_offset(),
            guard.error_pointer(),
            "nesting deeper than " + std::to_string(limits.max_depth) + " levels"
        );
    }
    auto code = reader.GetParseErrorCode();
    if (code == rapidjson::kParseErrorDocumentEmpty && reader.GetErrorOffset() < text.size()) {
        // The iterative parser calls a text that starts with ']', '}', ',' or ':' empty; the
        // recursive parser says, rightly, an invalid value. Both are used (parse_as), and
        // say the same.
        code = rapidjson::kParseErrorValueInvalid;
    }
    std::string msg = rapidjson::GetParseError_En(code);
    if (!msg.empty() && msg.back() == '.') {
        msg.pop_back();
    }
    // Lower-case the first letter: messages follow "file:line:col: ".
    if (!msg.empty()) {
        msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
    }
    return make_error(errc::invalid_json, reader.GetErrorOffset(), {}, std::move(msg));
}

}  // namespace

std::string json_error::describe(std::string_view origin) const {
    std::string out(origin);
    if (position.line > 0) {
        out += ':' + std::to_string(position.line) + ':' + std::to_string(position.column);
    }
    out += ": ";
    out += message;
    return out;
}

void throw_exception_from_error(const json_error& e, const boost::source_location&) {
    throw file_error(e.describe("<json>"), e.code, e.pointer);
}

text_position located_document::position_of(std::size_t offset) const {
    return position_in(text_, line_starts_, offset);
}

namespace {

// The key whose string literal starts at `at` in `text` (NUL-terminated), unescaped.
std::string key_at(const std::string& text, std::size_t at) {
    if (at >= text.size() || text[at] != '"') {
        return {};
    }
    const std::size_t close = text.find_first_of("\"\\", at + 1);
    if (close != std::string::npos && text[close] == '"') {
        return text.substr(at + 1, close - at - 1);  // no escapes: the bytes themselves
    }
    struct capture : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, capture> {
        std::string key;
        bool String(const char* s, rapidjson::SizeType n, bool) {
            key.assign(s, n);
            return true;
        }
    } handler;
    rapidjson::StringStream stream(text.c_str() + at);
    rapidjson::Reader reader;
    reader.Parse<rapidjson::kParseStopWhenDoneFlag>(stream, handler);
    return handler.key;
}

// Reverses escape_pointer_token; nullopt for a '~' not followed by '0' or '1'.
std::optional<std::string> unescape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (std::size_t i = 0; i < token.size(); ++i) {
        if (token[i] != '~') {
            out += token[i];
        } else if (i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
            out += token[++i] == '0' ? '~' : '/';
        } else {
            return std::nullopt;
        }
    }
    return out;
}

// An array index as JSON Pointer writes it: decimal digits, no leading zero but "0" itself.
std::optional<std::size_t> array_index(std::string_view token) {
    if (token.empty() || token.size() > 10 || (token.size() > 1 && token[0] == '0')) {
        return std::nullopt;
    }
    std::size_t n = 0;
    for (const char c : token) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return n;
}

}  // namespace

std::optional<std::size_t> located_document::child(std::size_t parent, std::string_view token)
    const {
    const std::size_t end = values_[parent].end;
    if (values_[parent].is_object != 0U) {
        const auto key = unescape_pointer_token(token);
        if (!key) {
            return std::nullopt;
        }
        for (std::size_t c = parent + 1; c < end; c = values_[c].end) {
            if (key_at(text_, values_[c].offset) == *key) {
                return c;
            }
        }
        return std::nullopt;
    }
    // An array, or a scalar (which has nothing between it and its end).
    const auto index = array_index(token);
    if (!index) {
        return std::nullopt;
    }
    std::size_t i = 0;
    for (std::size_t c = parent + 1; c < end; c = values_[c].end, ++i) {
        if (i == *index) {
            return c;
        }
    }
    return std::nullopt;
}

text_position located_document::locate(std::string_view pointer) const {
    if (values_.empty()) {
        return {};
    }
    std::size_t at = 0;  // the root
    while (pointer.starts_with('/')) {
        pointer.remove_prefix(1);
        const std::size_t slash = std::min(pointer.find('/'), pointer.size());
        const auto next = child(at, pointer.substr(0, slash));
        if (!next) {
            break;  // the nearest ancestor that is there
        }
        at = *next;
        pointer.remove_prefix(slash);
    }
    return position_of(values_[at].offset);
}

std::size_t located_document::position_bytes() const noexcept {
    return text_.capacity() + line_starts_.capacity() * sizeof(std::uint32_t) +
           values_.capacity() * sizeof(detail::located_value);
}

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

}  // namespace

json_result<rapidjson::Document> parse(std::string_view text, dialect d, parse_limits limits) {
    if (text.starts_with(utf8_bom)) {
        // RFC 8259 §8.1 lets a parser ignore a leading byte order mark: every reader of
        // casebridge does (files, standard input, upstream bodies). It becomes one blank, so a
        // column counts it as the one character an editor shows it as (or hides).
        std::string copy(text);
        copy.replace(0, utf8_bom.size(), " ");
        return parse_impl<false>(copy, d, limits, nullptr, nullptr);
    }
    return parse_impl<false>(text, d, limits, nullptr, nullptr);
}

json_result<located_document> parse_located(std::string_view text, dialect d, parse_limits limits) {
    // Offsets and value counts are kept in 32 bits (an end index in 31).
    limits.max_bytes = std::min<std::size_t>(limits.max_bytes, 0x7fff'ffff);
    const std::size_t size = text.starts_with(utf8_bom) ? text.size() - 2 : text.size();
    if (size > limits.max_bytes) {
        json_error e;
        e.code = errc::too_large;
        e.position = {1, 1};
        e.message = too_large_message(size, limits.max_bytes);
        return e;
    }
    located_document out;
    out.text_ = std::string(text);
    if (out.text_.starts_with(utf8_bom)) {
        out.text_.replace(0, utf8_bom.size(), " ");
    }
    out.line_starts_ = compute_line_starts<std::uint32_t>(out.text_);
    auto doc = parse_impl<true>(out.text_, d, limits, &out.values_, &out.line_starts_);
    if (!doc) {
        return doc.error();
    }
    out.values_.shrink_to_fit();
    out.line_starts_.shrink_to_fit();
    out.doc.Swap(*doc);
    return out;
}

void fail_at(
    const located_document& file,
    std::string_view origin,
    const std::string& pointer,
    const std::string& message,
    errc code
) {
    json_error e;
    e.code = code;
    e.position = file.locate(pointer);
    e.pointer = pointer;
    e.message = "at " + (pointer.empty() ? std::string("/") : pointer) + ": " + message;
    throw file_error(e.describe(origin), e.code, pointer);
}

std::string read_error_text(const boost::system::error_code& ec, std::size_t max_bytes) {
    if (ec == errc::too_large) {
        return "the file is over the limit of " + std::to_string(max_bytes) + " bytes";
    }
    return "cannot read the file";
}

boost::system::result<std::string> read_file(
    const std::filesystem::path& path, std::size_t max_bytes
) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error_code(errc::file_unreadable);
    }
    std::string data;
    std::array<char, 65536> buf{};
    while (in) {
        in.read(buf.data(), buf.size());
        data.append(buf.data(), static_cast<std::size_t>(in.gcount()));
        if (data.size() > max_bytes) {
            return make_error_code(errc::too_large);
        }
    }
    if (in.bad()) {
        return make_error_code(errc::file_unreadable);
    }
    return data;
}

located_document load_file(const std::filesystem::path& path, parse_limits limits) {
    const std::string origin = path.string();
    std::error_code fs_ec;
    if (std::filesystem::is_directory(path, fs_ec)) {
        throw file_error(
            origin + ": is a directory, expected a JSON file", errc::file_unreadable, {}
        );
    }
    errno = 0;
    auto text = read_file(path, limits.max_bytes);
    if (!text) {
        const int saved_errno = errno;
        std::string why =
            text.error() == errc::too_large
                ? "file is over the limit of " + std::to_string(limits.max_bytes) + " bytes"
                : std::string("cannot read file: ") +
                      (saved_errno != 0 ? std::strerror(saved_errno) : "read error");
        throw file_error(
            origin + ": " + why,
            text.error() == errc::too_large ? errc::too_large : errc::file_unreadable,
            {}
        );
    }
    std::string& t = *text;
    // A byte order mark (some editors start UTF-8 files with one) is dropped by the parser.
    auto parsed = parse_located(t, dialect::with_comments, limits);
    if (!parsed) {
        throw file_error(
            parsed.error().describe(origin), parsed.error().code, parsed.error().pointer
        );
    }
    return std::move(*parsed);
}

void append_pointer_token(std::string& out, std::string_view token) {
    // (find_first_of with a set of two runs memchr over the set for each byte.)
    if (std::none_of(token.begin(), token.end(), [](char c) { return c == '~' || c == '/'; })) {
        out.append(token);
        return;
    }
    for (const char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    append_pointer_token(out, token);
    return out;
}

namespace {

void write_canonical(const rapidjson::Value& v, rapidjson::Writer<rapidjson::StringBuffer>& w) {
    if (v.IsObject()) {
        std::vector<const rapidjson::Value::Member*> members;
        members.reserve(v.MemberCount());
        for (const auto& m : v.GetObject()) {
            members.push_back(&m);
        }
        std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
            return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
                   std::string_view(b->name.GetString(), b->name.GetStringLength());
        });
        w.StartObject();
        for (const auto* m : members) {
            w.Key(m->name.GetString(), m->name.GetStringLength());
            write_canonical(m->value, w);
        }
        w.EndObject();
    } else if (v.IsArray()) {
        w.StartArray();
        for (const auto& e : v.GetArray()) {
            write_canonical(e, w);
        }
        w.EndArray();
    } else {
        v.Accept(w);
    }
}

}  // namespace

std::string canonical(const rapidjson::Value& value) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    write_canonical(value, w);
    return {buf.GetString(), buf.GetSize()};
}

std::string to_string(const rapidjson::Value& value, bool pretty) {
    rapidjson::StringBuffer buf;
    if (pretty) {
        rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
        w.SetIndent(' ', 2);
        value.Accept(w);
    } else {
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        value.Accept(w);
    }
    return {buf.GetString(), buf.GetSize()};
}

std::optional<std::string> string_member(const rapidjson::Value& object, const char* name) {
    if (!object.IsObject()) {
        return std::nullopt;
    }
    const auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsString()) {
        return std::nullopt;
    }
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace casebridge::json
