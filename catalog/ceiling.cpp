// The ceiling in the catalog: the kinds of waiting task whose limits `tvl ceiling` finds.
#include "catalog/catalog.hpp"

#include <array>

namespace tvl::catalog {

namespace {

constexpr std::array kKinds = {
    CeilingKind{"threads", "default-stack", "pthreads with the default stack, blocked on one latch",
                ceiling::threads_hold, true, false},
    CeilingKind{"threads", "small-stack", "pthreads with a small stack (pthread_attr_setstacksize), on one latch",
                ceiling::threads_hold, true, true},
    CeilingKind{"asyncloop", "awaitable", "asio::awaitable coroutines on one io_context, waiting on one timer",
                ceiling::asyncloop_hold, false, false},
};

}  // namespace

std::span<const CeilingKind> ceiling_kinds() { return kKinds; }

}  // namespace tvl::catalog
