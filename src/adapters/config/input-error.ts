import { formatInputError, type InputError } from '../../core/registry.ts';

/** Bad input a person must fix: the CLI prints every problem (file and path) and exits 2. */
export class BadInputError extends Error {
  override name = 'BadInputError';
  readonly problems: InputError[];
  constructor(problems: InputError[]) {
    super(problems.map(formatInputError).join('\n'));
    this.problems = problems;
  }
}
