#include "sandbox/population.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <string_view>

#include "core/time.hpp"
#include "core/uuid.hpp"
#include "linkage/link.hpp"

namespace casebridge::sandbox::population {
namespace {

constexpr std::array male_second = {
    "Rafiq",  "Karim",  "Hamid",    "Jamal",  "Anwar",   "Sadek",    "Yusuf",  "Ibrahim",
    "Ismail", "Ayas",   "Salim",    "Kamal",  "Faruk",   "Harun",    "Jubair", "Rashid",
    "Amin",   "Shafi",  "Osman",    "Idris",  "Hashim",  "Zubair",   "Anis",   "Sultan",
    "Younus", "Eliyas", "Saiful",   "Shahid", "Habib",   "Kalam",    "Ayub",   "Sayed",
    "Nazir",  "Rahim",  "Siddique", "Tayeb",  "Alamgir", "Jahangir", "Shakil", "Arafat"};
constexpr std::array female_given = {
    "Fatema",  "Ayesha",  "Nurjahan", "Roshida", "Hasina", "Taslima", "Shamima",  "Yasmin",
    "Sumaiya", "Jannat",  "Rahima",   "Setara",  "Minara", "Rokeya",  "Sajeda",   "Hamida",
    "Nurkis",  "Ruksana", "Shahida",  "Asma",    "Rozina", "Khaleda", "Monowara", "Senuara",
    "Jamila",  "Kulsuma", "Amina",    "Sufia",   "Laila",  "Morjina"};
constexpr std::array male_family = {
    "Hossain", "Islam", "Rahman", "Uddin", "Ullah", "Alam", "Miah", "Ali", "Karim", "Haque"};
constexpr std::array female_family = {"Begum", "Akter", "Khatun"};

// Other spellings of a word as agencies write them (some are not in the variant table, so
// the bigrams must carry them).
const std::map<std::string_view, std::vector<std::string_view>>& spellings() {
    static const std::map<std::string_view, std::vector<std::string_view>> table = {
        {"Mohammad", {"Muhammad", "Md.", "Mohammed", "Mohamad", "Muhamad", "MD"}},
        {"Nur", {"Noor", "Nour"}},
        {"Abdul", {"Abdur"}},
        {"Hossain", {"Hussain", "Hossen", "Hosen", "Hussein"}},
        {"Begum", {"Begom", "Bagum"}},
        {"Rafiq", {"Rafik", "Rofiq", "Rofik"}},
        {"Akter", {"Akhter", "Aktar", "Akhtar"}},
        {"Khatun", {"Khatoon"}},
        {"Rahman", {"Rahaman", "Rehman"}},
        {"Karim", {"Kareem", "Korim"}},
        {"Fatema", {"Fatima", "Fatama"}},
        {"Ayesha", {"Aysha", "Aisha"}},
        {"Yusuf", {"Yousuf", "Eusuf"}},
        {"Uddin", {"Uddeen"}},
        {"Miah", {"Mia", "Miya"}},
        {"Rashid", {"Rasheed", "Rashed"}},
        {"Jannat", {"Jannath"}},
        {"Yasmin", {"Yasmeen", "Jasmin"}},
        {"Sumaiya", {"Sumaya", "Sumayya"}},
        {"Roshida", {"Rashida", "Rosida"}},
        {"Alam", {"Alom"}},
        {"Ibrahim", {"Ebrahim"}},
        {"Ismail", {"Esmail"}},
        {"Anwar", {"Anowar"}},
        {"Sadek", {"Sadiq", "Sadik"}},
        {"Hamid", {"Hameed"}},
        {"Kamal", {"Kamaal"}},
        {"Haque", {"Hoque", "Huq"}},
        {"Nurjahan", {"Noorjahan"}},
        {"Siddique", {"Siddiq", "Siddik"}},
        {"Younus", {"Yunus", "Yunous"}},
    };
    return table;
}

class dice_roller {
public:
    explicit dice_roller(std::uint64_t seed) : rng_(seed) {}
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }
    int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    // Zipf-like: rank r with weight 1/(r+1)^0.9, so a few names are very common.
    template <typename Array>
    std::string zipf(const Array& a) {
        std::vector<double> w(a.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            w[i] = 1.0 / std::pow(double(i + 1), 0.9);
        }
        std::discrete_distribution<std::size_t> d(w.begin(), w.end());
        return a[d(rng_)];
    }
    std::string digits(int n) {
        std::string s;
        for (int i = 0; i < n; ++i) {
            s += static_cast<char>('0' + below(10));
        }
        return s;
    }
    std::mt19937_64& engine() { return rng_; }

private:
    std::mt19937_64 rng_;
};

struct child_truth {
    std::string given, family, sex, dob, camp, block, caregiver, progres, birth_reg, fcn;
    std::uint32_t household = 0;
};

std::vector<std::string> words_of(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto end = s.find(' ', start);
        if (end == std::string::npos) {
            end = s.size();
        }
        if (end > start) {
            out.push_back(s.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) {
        s += s.empty() ? "" : " ";
        s += x;
    }
    return s;
}

std::string misspell(dice_roller& d, std::string word) {
    if (word.size() < 3) {
        return word;
    }
    const std::size_t i = 1 + d.below(word.size() - 1);
    static constexpr std::string_view vowels = "aeiou";
    switch (d.below(4)) {
        case 0:
            word[i] = vowels[d.below(vowels.size())];
            break;
        case 1:
            word.erase(i, 1);
            break;
        case 2:
            word.insert(i, 1, word[i - 1] >= 'a' ? word[i - 1] : 'a');
            break;
        default:
            if (i + 1 < word.size()) {
                std::swap(word[i], word[i + 1]);
            }
    }
    return word;
}

// A name as one agency writes it.
std::string write_name(dice_roller& d, const options& o, const std::string& truth) {
    auto w = words_of(truth);
    if (w.empty()) {
        return truth;
    }
    if (d.chance(o.name_variant)) {
        std::vector<std::size_t> variable;
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (spellings().contains(w[i])) {
                variable.push_back(i);
            }
        }
        if (!variable.empty()) {
            auto& word = w[variable[d.below(variable.size())]];
            const auto& alts = spellings().at(word);
            word = std::string(alts[d.below(alts.size())]);
        }
    }
    if (d.chance(o.misspelling)) {
        auto& word = w[d.below(w.size())];
        word = misspell(d, word);
    }
    auto s = join(w);
    if (d.chance(0.1)) {
        std::transform(s.begin(), s.end(), s.begin(), [](char c) {
            return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        });
    }
    return s;
}

std::string two(int v) {
    return (v < 10 ? "0" : "") + std::to_string(v);
}

}  // namespace

caseload generate(const options& o) {
    dice_roller d(o.seed * 0x9E3779B97F4A7C15ULL + 17);
    std::vector<child_truth> children;
    children.reserve(o.children);
    std::size_t households = 0;
    while (children.size() < o.children) {
        // A household: 1–6 children sharing caregiver, FCN, camp block and usually a surname.
        std::size_t size = 1;
        while (size < 6 && d.chance(0.45)) {
            ++size;
        }
        const bool refugee = d.chance(0.75);
        const std::string camp = "BD2022" + two(1 + static_cast<int>(d.below(34)));
        const std::string block = two(1 + static_cast<int>(d.below(20)));
        const std::string caregiver =
            d.zipf(female_given) + (d.chance(0.7) ? " " + d.zipf(female_family) : "");
        const std::string father_family = d.zipf(male_family);
        const std::string fcn = refugee ? "1" + d.digits(6) : "";
        std::vector<std::string> used_given;
        const auto household = static_cast<std::uint32_t>(households++);
        std::string previous_dob;
        for (std::size_t k = 0; k < size && children.size() < o.children; ++k) {
            child_truth c;
            c.sex = d.chance(0.5) ? "female" : "male";
            const bool twin = k > 0 && d.chance(0.08);
            if (twin) {
                c.dob = previous_dob;
            } else {
                c.dob = std::to_string(d.between(2007, 2024)) + "-" + two(d.between(1, 12)) + "-" +
                        two(d.between(1, 28));
            }
            previous_dob = c.dob;
            for (int attempt = 0; attempt < 20; ++attempt) {
                if (c.sex == "male") {
                    const auto second = d.zipf(male_second);
                    const auto r = d.below(100);
                    c.given =
                        r < 40 ? "Mohammad " + second
                               : (r < 50 ? "Nur " + second : (r < 56 ? "Abdul " + second : second));
                } else {
                    c.given = d.zipf(female_given);
                }
                if (std::find(used_given.begin(), used_given.end(), c.given) == used_given.end()) {
                    break;
                }
            }
            used_given.push_back(c.given);
            c.family = c.sex == "male" ? (d.chance(0.6) ? father_family : "")
                                       : (d.chance(0.8) ? d.zipf(female_family) : "");
            c.camp = camp;
            c.block = block;
            c.caregiver = caregiver;
            c.fcn = fcn;
            c.household = household;
            if (refugee) {
                c.progres = "803-1" + d.digits(8);
            } else if (d.chance(0.4)) {
                c.birth_reg = c.dob.substr(0, 4) + d.digits(13);
            }
            children.push_back(std::move(c));
        }
    }

    caseload out;
    out.seed = o.seed;
    std::vector<std::size_t> per_agency(o.agencies.size(), 0);
    for (std::uint32_t id = 0; id < children.size(); ++id) {
        const auto& c = children[id];
        std::vector<std::size_t> served;
        for (std::size_t a = 0; a < o.agencies.size(); ++a) {
            if (d.chance(o.coverage[a])) {
                served.push_back(a);
            }
        }
        if (served.empty()) {
            served.push_back(d.below(o.agencies.size()));
        }
        for (std::size_t k = 0; k < served.size(); ++k) {
            if (d.chance(o.duplicate_rate)) {
                served.push_back(served[k]);  // entered twice at this agency
            }
        }
        for (const auto a : served) {
            record r;
            r.agency = o.agencies[a];
            r.child = id;
            r.household = c.household;
            r.true_given = c.given;
            r.true_family = c.family;
            r.name_first = write_name(d, o, c.given);
            if (!c.family.empty() && !d.chance(o.family_missing)) {
                r.name_last = write_name(d, o, c.family);
            }
            r.sex = d.chance(o.sex_error) ? (c.sex == "male" ? "female" : "male") : c.sex;
            int year = std::stoi(c.dob.substr(0, 4));
            int month = std::stoi(c.dob.substr(5, 2));
            int day = std::stoi(c.dob.substr(8, 2));
            if (d.chance(o.year_off)) {
                year += d.chance(0.5) ? 1 : -1;
            }
            if (d.chance(o.dob_estimated)) {
                month = 1;
                day = 1;
                r.estimated = true;
            } else if (day <= 12 && d.chance(o.dob_swapped)) {
                std::swap(month, day);
            }
            r.date_of_birth = std::to_string(year) + "-" + two(month) + "-" + two(day);
            std::string block = c.block;
            if (d.chance(o.block_move)) {
                block = two(1 + static_cast<int>(d.below(20)));
            }
            r.location = c.camp + block;
            if (!d.chance(o.caregiver_missing)) {
                r.caregiver = write_name(d, o, c.caregiver);
            }
            if (!c.progres.empty() && d.chance(o.progres_recorded)) {
                const auto digits = c.progres.substr(4);
                const auto f = d.below(3);
                r.progres = f == 0 ? c.progres : (f == 1 ? "803" + digits : "803 " + digits);
            }
            if (!c.birth_reg.empty() && d.chance(0.7)) {
                r.birth_registration = c.birth_reg;
            }
            if (!c.fcn.empty() && d.chance(o.fcn_recorded)) {
                r.fcn = d.chance(0.5) ? c.fcn : "FCN-" + c.fcn;
            }
            out.records.push_back(std::move(r));
        }
    }
    std::shuffle(out.records.begin(), out.records.end(), d.engine());
    for (auto& r : out.records) {
        const auto a = static_cast<std::size_t>(
            std::find(o.agencies.begin(), o.agencies.end(), r.agency) - o.agencies.begin()
        );
        r.key = r.agency + "-" + std::to_string(100000 + per_agency[a]++);
    }
    return out;
}

rapidjson::Document to_canonical(const record& r) {
    rapidjson::Document doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    auto str = [&](const char* name, const std::string& v) {
        if (!v.empty()) {
            doc.AddMember(rapidjson::StringRef(name), rapidjson::Value(v.c_str(), a), a);
        }
    };
    str("case_id_display", r.key);
    str("name_first", r.name_first);
    str("name_last", r.name_last);
    str("sex", r.sex);
    str("date_of_birth", r.date_of_birth);
    if (r.estimated) {
        doc.AddMember("estimated", true, a);
    }
    str("location_current", r.location);
    str("unhcr_individual_no", r.progres);
    str("birth_registration_no", r.birth_registration);
    str("family_count_no", r.fcn);
    rapidjson::Value family(rapidjson::kArrayType);
    if (!r.caregiver.empty()) {
        rapidjson::Value row(rapidjson::kObjectType);
        row.AddMember("relation", "mother", a);
        row.AddMember("relation_name", rapidjson::Value(r.caregiver.c_str(), a), a);
        row.AddMember("relation_is_caregiver", true, a);
        family.PushBack(row, a);
    }
    rapidjson::Value other(rapidjson::kObjectType);
    other.AddMember("relation", "uncle", a);
    other.AddMember("relation_name", "Not The Caregiver", a);
    other.AddMember("relation_is_caregiver", false, a);
    family.PushBack(other, a);
    doc.AddMember("family_details_section", family, a);
    return doc;
}

namespace {

// Age in whole years on `on` (both YYYY-MM-DD).
int age_on(const std::string& dob, const std::string& on) {
    int age = std::stoi(on.substr(0, 4)) - std::stoi(dob.substr(0, 4));
    if (on.substr(5) < dob.substr(5)) {
        --age;
    }
    return std::max(age, 0);
}

}  // namespace

primero_share primero_cases(
    const caseload& population, std::string_view agency, const primero_options& o
) {
    using rapidjson::Value;
    primero_share out;
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : agency) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    }
    // Draws of its own: the population stays what generate() made.
    std::mt19937_64 rng(population.seed * 0x9E3779B97F4A7C15ULL ^ h ^ 0x51f15eedULL);
    const auto chance = [&rng](double p) {
        return std::uniform_real_distribution<double>(0, 1)(rng) < p;
    };
    static constexpr std::array risks = {"high", "medium", "low"};
    static constexpr std::array statuses = {"separated", "unaccompanied"};
    // 2025-03-01T06:00:00Z, then a case every 7 s and some milliseconds.
    const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1'740'808'800));
    std::size_t n = 0;
    for (const auto& r : population.records) {
        if (r.agency != agency) {
            continue;
        }
        const std::string id =
            uuid_v5("sandbox/population/" + std::to_string(population.seed) + "/" + r.key);
        const std::string uid = uuid_v5("sandbox/population/unique/" + id);
        const auto updated_tp =
            start + std::chrono::seconds(7 * n) + std::chrono::milliseconds(rng() % 1000);
        const auto created_tp = updated_tp - std::chrono::hours(24 * (1 + rng() % 300));
        const std::string updated = format_rfc3339(updated_tp, 3);
        const std::string created = format_rfc3339(created_tp, 3);
        ++n;
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        const auto str = [&](const char* k, const std::string& v) {
            if (!v.empty()) {
                d.AddMember(Value(k, a), Value(v.c_str(), a), a);
            }
        };
        str("id", id);
        d.AddMember("record_state", true, a);
        str("unique_identifier", uid);
        str("case_id", uid);
        str("short_id", uid.substr(uid.size() - 7));
        str("case_id_display", uid.substr(uid.size() - 7));
        str("module_id", "primeromodule-cp");
        str("status", "open");
        str("workflow", "case_plan");
        str("name_first", r.name_first);
        str("name_last", r.name_last);
        str("name", r.name_last.empty() ? r.name_first : r.name_first + " " + r.name_last);
        str("sex", r.sex);
        str("date_of_birth", r.date_of_birth);
        d.AddMember("age", age_on(r.date_of_birth, created.substr(0, 10)), a);
        d.AddMember("estimated", r.estimated, a);
        str("registration_date", created.substr(0, 10));
        str("location_current", r.location);
        str("unhcr_individual_no", r.progres);
        str("birth_registration_no", r.birth_registration);
        str("family_count_no", r.fcn);
        const bool refugee = !r.progres.empty() || !r.fcn.empty();
        str("displacement_status", refugee ? "refugee" : "resident");
        str("protection_status", statuses[rng() % statuses.size()]);
        str("risk_level", risks[rng() % risks.size()]);
        const bool consent = !chance(o.without_consent);
        str("interview_subject", "caregiver");
        d.AddMember("consent_reporting", consent, a);
        d.AddMember("consent_for_services", true, a);
        d.AddMember("disclosure_other_orgs", consent, a);
        Value family(rapidjson::kArrayType);
        if (!r.caregiver.empty()) {
            Value row(rapidjson::kObjectType);
            const std::string row_id = uuid_v5(id + "/family_details_section/0");
            row.AddMember("unique_id", Value(row_id.c_str(), a), a);
            row.AddMember("relation", "mother", a);
            row.AddMember("relation_name", Value(r.caregiver.c_str(), a), a);
            row.AddMember("relation_is_caregiver", true, a);
            family.PushBack(row, a);
        }
        d.AddMember("family_details_section", family, a);
        str("owned_by", o.owner);
        str("owned_by_agency_id", o.owner_agency);
        str("created_by", o.owner);
        str("created_organization", o.owner_agency);
        str("created_at", created);
        str("posted_at", created);
        str("last_updated_at", updated);
        str("last_updated_by", o.owner);
        Value assoc(rapidjson::kArrayType);
        assoc.PushBack(Value(o.owner.c_str(), a), a);
        d.AddMember("associated_user_names", assoc, a);
        d.AddMember("assigned_user_names", Value(rapidjson::kArrayType), a);
        out.child_of.emplace(id, r.child);
        out.key_of.emplace(id, r.key);
        if (!consent) {
            out.without_consent.insert(id);
        }
        out.cases.push_back(std::move(d));
    }
    return out;
}

std::size_t true_cross_pairs(const std::vector<record>& records) {
    std::map<std::uint32_t, std::map<std::string, std::size_t>> counts;
    for (const auto& r : records) {
        ++counts[r.child][r.agency];
    }
    std::size_t pairs = 0;
    for (const auto& [child, per_agency] : counts) {
        std::size_t seen = 0;
        for (const auto& [agency, n] : per_agency) {
            pairs += seen * n;
            seen += n;
        }
    }
    return pairs;
}

quality evaluate(const std::vector<record>& records, const linkage::linkage_result& result) {
    quality q;
    q.true_pairs = true_cross_pairs(records);
    for (const auto& c : result.clusters) {
        for (std::size_t i = 0; i < c.members.size(); ++i) {
            for (std::size_t j = i + 1; j < c.members.size(); ++j) {
                const auto& x = records[c.members[i]];
                const auto& y = records[c.members[j]];
                if (x.agency == y.agency) {
                    continue;
                }
                ++q.predicted_pairs;
                q.correct_pairs += x.child == y.child ? 1 : 0;
            }
        }
    }
    return q;
}

}  // namespace casebridge::sandbox::population
