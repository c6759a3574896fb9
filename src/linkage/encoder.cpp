#include "linkage/encoder.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <rapidjson/pointer.h>

#include "linkage/normalise.hpp"

namespace casebridge::linkage {
namespace {

// HMAC-SHA-256 under one key, reusing one OpenSSL context (the key schedule is done once).
class keyed_mac {
public:
    explicit keyed_mac(const std::string& key) {
        mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        ctx_ = mac_ == nullptr ? nullptr : EVP_MAC_CTX_new(mac_);
        std::array<char, 7> digest = {'S', 'H', 'A', '2', '5', '6', '\0'};
        const std::array<OSSL_PARAM, 2> params = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
            OSSL_PARAM_construct_end()};
        if (ctx_ == nullptr ||
            EVP_MAC_init(
                ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params.data()
            ) != 1) {
            release();
            throw std::runtime_error("HMAC-SHA-256 is not available");  // a broken OpenSSL
        }
    }
    keyed_mac(const keyed_mac&) = delete;
    keyed_mac& operator=(const keyed_mac&) = delete;
    ~keyed_mac() { release(); }

    std::array<unsigned char, 32> operator()(std::string_view data) {
        std::array<unsigned char, 32> out{};
        std::size_t len = 0;
        if (EVP_MAC_init(ctx_, nullptr, 0, nullptr) != 1 ||
            EVP_MAC_update(
                ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()
            ) != 1 ||
            EVP_MAC_final(ctx_, out.data(), &len, out.size()) != 1 || len != out.size()) {
            throw std::runtime_error("HMAC-SHA-256 failed");
        }
        return out;
    }

private:
    void release() {
        EVP_MAC_CTX_free(ctx_);
        EVP_MAC_free(mac_);
        ctx_ = nullptr;
        mac_ = nullptr;
    }
    EVP_MAC* mac_ = nullptr;
    EVP_MAC_CTX* ctx_ = nullptr;
};

std::uint64_t load_u64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

struct compiled_field {
    const field_spec* spec = nullptr;
    std::optional<rapidjson::Pointer> subform;
    std::optional<rapidjson::Pointer> row_filter;
    std::vector<rapidjson::Pointer> sources;
    std::optional<rapidjson::Pointer> estimated_flag;
};

// Bits a token sets: the field's `hashes`, or for a date the count of the token's kind
// (tokens from date_tokens: "y:", "ya:"/"yb:", "md:").
unsigned hashes_of(const field_spec& f, const std::string& token) {
    if (f.tokens != tokenisation::date) {
        return f.hashes;
    }
    unsigned k = 0;
    if (token.starts_with("md:")) {
        k = f.month_day_hashes;
    } else if (token.starts_with("y:")) {
        k = f.year_hashes;
    } else {
        k = f.two_year_hashes;
    }
    return k == 0 ? f.hashes : k;
}

bool is_true(const rapidjson::Value* v) {
    return v != nullptr && v->IsBool() && v->GetBool();
}

}  // namespace

result<std::string> load_linkage_secret(const secret_source& source) {
    auto secret = read_secret(source);
    if (!secret || secret->size() < min_secret_bytes) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    return std::move(*secret);
}

struct encoder::impl {
    linkage_schema schema;
    keyed_mac mac;
    std::vector<compiled_field> fields;
    std::vector<rapidjson::Pointer> id_sources;
    std::vector<std::uint32_t> permutation;  // balance: position of each of the 2m bits
    std::unordered_map<std::string, std::vector<std::uint32_t>> cache;  // token → positions

    impl(const linkage_schema& s, const std::string& secret) : schema(s), mac(secret) {
        for (const auto& f : schema.fields) {
            compiled_field c;
            c.spec = &f;
            if (!f.subform.empty()) {
                c.subform.emplace(f.subform.c_str());
            }
            if (!f.row_filter.empty()) {
                c.row_filter.emplace(f.row_filter.c_str());
            }
            for (const auto& src : f.sources) {
                c.sources.emplace_back(src.c_str());
            }
            if (!f.estimated_flag.empty()) {
                c.estimated_flag.emplace(f.estimated_flag.c_str());
            }
            fields.push_back(std::move(c));
        }
        for (const auto& id : schema.identifiers) {
            id_sources.emplace_back(id.source.c_str());
        }
        if (schema.harden == hardening::balance) {
            build_permutation();
        }
    }

    // A keyed Fisher–Yates shuffle: all agencies derive the same permutation from the
    // shared secret; the hub cannot undo it.
    void build_permutation() {
        const std::size_t n = schema.filter_bits * 2;
        permutation.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            permutation[i] = static_cast<std::uint32_t>(i);
        }
        std::uint64_t counter = 0;
        std::array<unsigned char, 32> block{};
        std::size_t used = block.size();
        auto next = [&]() {
            if (used == block.size()) {
                block = mac(std::string("linkage.permutation\0", 20) + std::to_string(counter++));
                used = 0;
            }
            const auto v = load_u64(block.data() + used);
            used += 8;
            return v;
        };
        for (std::size_t i = n - 1; i > 0; --i) {
            const auto j = static_cast<std::size_t>(next() % (i + 1));
            std::swap(permutation[i], permutation[j]);
        }
    }

    // The `k` bit positions (of `m`) of one token of a field, cached per token.
    const std::vector<std::uint32_t>& positions(
        const std::string& field, const std::string& token, unsigned k, std::size_t m
    ) {
        std::string key = field;
        key += '\0';
        key += token;
        if (const auto it = cache.find(key); it != cache.end()) {
            return it->second;
        }
        std::vector<std::uint32_t> out;
        out.reserve(k);
        if (schema.hash == hashing::double_hash) {
            const auto d = mac(std::string("clk\0", 4) + key);
            const std::uint64_t h1 = load_u64(d.data());
            const std::uint64_t h2 = load_u64(d.data() + 8) | 1U;
            for (unsigned i = 0; i < k; ++i) {
                out.push_back(static_cast<std::uint32_t>((h1 + i * h2) % m));
            }
        } else {
            // Eight independent 32-bit draws per HMAC block; block n keys on its counter.
            for (std::uint32_t block = 0; out.size() < k; ++block) {
                const auto d = mac(std::string("clkr\0", 5) + key + '\0' + std::to_string(block));
                for (std::size_t at = 0; at + 4 <= d.size() && out.size() < k; at += 4) {
                    const std::uint32_t v = static_cast<std::uint32_t>(d[at]) |
                                            static_cast<std::uint32_t>(d[at + 1]) << 8U |
                                            static_cast<std::uint32_t>(d[at + 2]) << 16U |
                                            static_cast<std::uint32_t>(d[at + 3]) << 24U;
                    out.push_back(static_cast<std::uint32_t>(v % m));
                }
            }
        }
        if (cache.size() > (1U << 20)) {
            cache.clear();
        }
        return cache.emplace(std::move(key), std::move(out)).first->second;
    }

    // The values of a field in the record (several for subform rows or several sources).
    std::vector<const rapidjson::Value*> rows(
        const compiled_field& f, const rapidjson::Value& record
    ) const {
        std::vector<const rapidjson::Value*> out;
        if (!f.subform) {
            out.push_back(&record);
            return out;
        }
        const auto* sub = f.subform->Get(record);
        if (sub == nullptr || !sub->IsArray()) {
            return out;
        }
        for (const auto& row : sub->GetArray()) {
            if (row.IsObject() && (!f.row_filter || is_true(f.row_filter->Get(row)))) {
                out.push_back(&row);
            }
        }
        return out;
    }

    // A word of a name or text field: the variant table (names), then collapsed repeats
    // when the field asks. A word the table does not hold is tried again collapsed against
    // the table's collapsed forms, so "Noorr" still meets "nur"'s group.
    std::string fold_word(const field_spec& spec, const std::string& word) const {
        if (spec.norm == normalisation::name) {
            return schema.variants.fold_word(word, spec.collapse_repeats);
        }
        return spec.collapse_repeats ? collapse_repeats(word) : word;
    }

    std::vector<std::string> tokens_of(const compiled_field& f, const rapidjson::Value& record)
        const {
        const auto& spec = *f.spec;
        std::vector<std::string> tokens;
        for (const auto* row : rows(f, record)) {
            for (const auto& src : f.sources) {
                const auto* v = src.Get(*row);
                if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
                    continue;
                }
                const std::string_view text(v->GetString(), v->GetStringLength());
                if (spec.tokens == tokenisation::date) {
                    const bool flagged = f.estimated_flag && is_true(f.estimated_flag->Get(record));
                    const auto md = month_day(text);
                    const bool estimated =
                        flagged ||
                        std::find(spec.estimated_days.begin(), spec.estimated_days.end(), md) !=
                            spec.estimated_days.end();
                    auto t = date_tokens(text, estimated);
                    tokens.insert(tokens.end(), t.begin(), t.end());
                    continue;
                }
                std::vector<std::string> words;
                if (spec.norm == normalisation::code) {
                    if (auto c = normalise_code(text); !c.empty()) {
                        words.push_back(std::move(c));
                    }
                } else {
                    words = split_words(fold_text(text));
                    for (auto& w : words) {
                        w = fold_word(spec, w);
                    }
                }
                switch (spec.tokens) {
                    case tokenisation::bigrams:
                        for (const auto& w : words) {
                            auto g = padded_bigrams(w);
                            tokens.insert(tokens.end(), g.begin(), g.end());
                        }
                        break;
                    case tokenisation::exact: {
                        std::string joined;
                        for (const auto& w : words) {
                            joined += joined.empty() ? "" : " ";
                            joined += w;
                        }
                        if (!joined.empty()) {
                            tokens.push_back(std::move(joined));
                        }
                        break;
                    }
                    case tokenisation::prefixes:
                        for (const auto& w : words) {
                            for (const auto len : spec.prefixes) {
                                if (w.size() >= len) {
                                    tokens.push_back(
                                        "p" + std::to_string(len) + ":" + w.substr(0, len)
                                    );
                                }
                            }
                        }
                        break;
                    case tokenisation::date:
                        break;
                }
            }
        }
        return tokens;
    }
};

encoder::encoder(const linkage_schema& schema, std::string secret) {
    if (secret.size() < min_secret_bytes) {
        throw std::invalid_argument("the linkage secret is shorter than 16 bytes");
    }
    impl_ = std::make_unique<impl>(schema, secret);
    std::fill(secret.begin(), secret.end(), '\0');
}

encoder::~encoder() = default;
encoder::encoder(encoder&&) noexcept = default;
encoder& encoder::operator=(encoder&&) noexcept = default;

const linkage_schema& encoder::schema() const noexcept {
    return impl_->schema;
}

std::vector<std::pair<std::string, std::vector<std::string>>> encoder::field_tokens(
    const rapidjson::Value& record
) const {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    for (const auto& f : impl_->fields) {
        out.emplace_back(f.spec->name, impl_->tokens_of(f, record));
    }
    return out;
}

encoded_record encoder::encode(const rapidjson::Value& record) {
    auto& s = impl_->schema;
    const std::size_t m = s.filter_bits;
    std::vector<std::uint64_t> raw(m / 64, 0);
    for (const auto& f : impl_->fields) {
        for (const auto& token : impl_->tokens_of(f, record)) {
            for (const auto pos :
                 impl_->positions(f.spec->name, token, hashes_of(*f.spec, token), m)) {
                raw[pos / 64] |= std::uint64_t{1} << (pos % 64);
            }
        }
    }
    encoded_record out;
    switch (s.harden) {
        case hardening::none:
            out.filter = std::move(raw);
            break;
        case hardening::xor_fold: {
            const std::size_t half = m / 128;
            out.filter.resize(half);
            for (std::size_t w = 0; w < half; ++w) {
                out.filter[w] = raw[w] ^ raw[w + half];
            }
            break;
        }
        case hardening::balance: {
            out.filter.assign(m * 2 / 64, 0);
            for (std::size_t i = 0; i < 2 * m; ++i) {
                const std::size_t src = i % m;
                const bool bit = ((raw[src / 64] >> (src % 64)) & 1U) != 0;
                if (bit != (i >= m)) {
                    const auto dst = impl_->permutation[i];
                    out.filter[dst / 64] |= std::uint64_t{1} << (dst % 64);
                }
            }
            break;
        }
    }
    for (std::uint32_t k = 0; k < s.identifiers.size(); ++k) {
        const auto* v = impl_->id_sources[k].Get(record);
        if (v == nullptr || !v->IsString()) {
            continue;
        }
        const auto code = normalise_code({v->GetString(), v->GetStringLength()});
        if (code.empty()) {
            continue;
        }
        std::string msg = "id";
        msg += '\0';
        msg += s.identifiers[k].name;
        msg += '\0';
        msg += code;
        const auto d = impl_->mac(msg);
        out.tokens.push_back({k, load_u64(d.data())});
    }
    return out;
}

}  // namespace casebridge::linkage
