// What exercise coordinated-omission's probe talks to (exercises/coordinated-omission/): one
// request through a real broker. The grader implements it with a client that is subscribed to a
// channel of its own: send_and_wait() publishes a message there and returns once the broker has
// delivered it back. Meanwhile, the grader pauses the broker (SIGSTOP) for half a second.
#pragma once

namespace tvl::exercise {

class RoundTrip {
 public:
  virtual ~RoundTrip() = default;
  // Sends one request and waits for its answer; blocks as long as the broker takes.
  virtual void send_and_wait() = 0;
};

}  // namespace tvl::exercise
