// `casebridge version`: this build's version and its libraries' versions.
#include <ostream>

#include <boost/version.hpp>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <rapidjson/rapidjson.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include "build_info.hpp"
#include "cli/commands.hpp"

namespace casebridge::cli {

int run_version(const parsed_args& args, command_io& io) {
    const std::string boost = std::to_string(BOOST_VERSION / 100000) + '.' +
                              std::to_string(BOOST_VERSION / 100 % 1000) + '.' +
                              std::to_string(BOOST_VERSION % 100);
    const std::string openssl_built = OPENSSL_FULL_VERSION_STR;
    const std::string openssl_loaded = OpenSSL_version(OPENSSL_FULL_VERSION_STRING);
    const std::string sqlite_built = SQLITE_VERSION;
    const std::string sqlite_loaded = sqlite3_libversion();
    const std::string rapidjson = RAPIDJSON_VERSION_STRING;
    if (args.has("json")) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        const auto pair = [&w](const char* k, const std::string& v) {
            w.Key(k);
            w.String(v.c_str());
        };
        pair("casebridge", build_info::version);
        pair("build_type", build_info::build_type);
        pair("compiler", build_info::compiler);
        pair("boost", boost);
        pair("openssl_built", openssl_built);
        pair("openssl_loaded", openssl_loaded);
        pair("sqlite_built", sqlite_built);
        pair("sqlite_loaded", sqlite_loaded);
        pair("rapidjson", rapidjson);
        w.EndObject();
        io.out << buf.GetString() << '\n';
        return exit_ok;
    }
    io.out << "casebridge " << build_info::version << " (" << build_info::build_type << ", "
           << build_info::compiler << ")\n"
           << "Boost      " << boost << '\n'
           << "OpenSSL    " << openssl_built << " (loaded " << openssl_loaded << ")\n"
           << "SQLite     " << sqlite_built << " (loaded " << sqlite_loaded << ")\n"
           << "RapidJSON  " << rapidjson << '\n';
    return exit_ok;
}

}  // namespace casebridge::cli
