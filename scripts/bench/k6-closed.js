// Closed loop for scripts/bench/peers.sh: VUS virtual users, each sending
// GET URL back to back for DURATION.
import http from 'k6/http';

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(50)', 'p(90)', 'p(99)', 'max'],
  scenarios: {
    closed: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 64),
      duration: __ENV.DURATION || '10s',
      gracefulStop: '2s',
    },
  },
};

export default function () {
  http.get(__ENV.URL);
}
