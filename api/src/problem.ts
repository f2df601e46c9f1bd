import type { FastifyInstance } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { answerWithProblems, type ProblemListener } from '../../core/http-problems.ts';

export { PROBLEM_CONTENT_TYPE } from '../../core/http-problems.ts';

/** Counts the problems the API answers with, by code (the same counter whoever raised them). */
export function problemCounter(registry: Registry): ProblemListener {
  const problems = new Counter({
    name: 'pigeon_api_problems_total',
    help: 'Requests answered with a problem+json error, by code',
    labelNames: ['code'],
    registers: [registry],
  });
  return (error) => problems.inc({ code: error.code });
}

/** Every error leaves as RFC 9457 problem+json with a `code` from the catalogue. */
export function registerProblemHandlers(app: FastifyInstance, onProblem: ProblemListener): void {
  answerWithProblems(app, onProblem);
}
