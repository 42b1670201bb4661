// tether/nats/nats.hpp
//
// The umbrella header of tether::nats, the optional component that carries tether's model (bounded
// channels with backpressure, bounded fan-out, requests with deadlines) across processes and
// machines on NATS JetStream. Link tether::nats (built when pkg-config finds libnats).
//
//   connection.hpp   Connection, publish/subscribe, request/reply
//   work_queue.hpp   WorkQueue, Producer, Consumer, Delivery (JetStream)
//   for_each.hpp     for_each_concurrent over a WorkQueue
//   error.hpp        NatsError, Unavailable, QueueFull, RequestError
//   test_server.hpp  nats-server processes for tests, examples and benchmarks
//
// The guide is docs/nats.md. Example: nats/examples/distributed_pipeline.cpp
#pragma once

#include "tether/nats/connection.hpp"
#include "tether/nats/error.hpp"
#include "tether/nats/for_each.hpp"
#include "tether/nats/test_server.hpp"
#include "tether/nats/work_queue.hpp"
