// Open model for scripts/bench/peers.sh: RATE iterations (one GET URL each)
// start every second for DURATION, from a pool of VUS pre-allocated users;
// iterations that find no free user are counted in dropped_iterations.
import http from 'k6/http';

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(50)', 'p(90)', 'p(99)', 'max'],
  scenarios: {
    open: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: Number(__ENV.VUS || 200),
      maxVUs: Number(__ENV.VUS || 200),
      gracefulStop: '2s',
    },
  },
};

export default function () {
  http.get(__ENV.URL);
}
