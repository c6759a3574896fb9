#include "net/stop.hpp"

#include <boost/asio/steady_timer.hpp>

namespace casebridge {

awaitable<bool> wait_unless_stopped(
    const clock_source& clock, std::chrono::nanoseconds d, std::stop_token stop
) {
    if (stop.stop_requested()) {
        co_return false;
    }
    const auto real = clock.wait_time(d);
    if (real <= std::chrono::nanoseconds::zero()) {
        co_return !stop.stop_requested();
    }
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex, real);
    const auto on_stop = post_on_stop(stop, ex, timer, [](net::steady_timer& t) { t.cancel(); });
    co_await timer->async_wait(use_nothrow);
    co_return !stop.stop_requested();
}

}  // namespace casebridge
