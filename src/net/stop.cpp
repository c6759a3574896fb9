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
    // Shared with the stop callback's posted cancel, which may run after this frame is gone.
    auto timer = std::make_shared<net::steady_timer>(ex, real);
    const std::stop_callback on_stop(stop, [ex, weak = std::weak_ptr(timer)] {
        net::post(ex, [weak] {
            if (auto t = weak.lock()) {
                t->cancel();
            }
        });
    });
    co_await timer->async_wait(use_nothrow);
    co_return !stop.stop_requested();
}

}  // namespace casebridge
