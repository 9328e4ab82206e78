/** The CLI's list and number parsers (engine/cli/args.ts): what they accept, and what they refuse by name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIds, parseIndexList, parseInteger, parseNumber } from '../../engine/api/parse';
import { expectInputError } from '../helpers/input-error';

test('index lists: indices and ranges, sorted and unique; bad parts named', () => {
  assert.deepEqual(parseIndexList('--layers', ' 3, 0-2 ,1 ', 4), [0, 1, 2, 3]);
  expectInputError(() => parseIndexList('--layers', '2-1', 4), '--layers', "range '2-1' is reversed");
  expectInputError(() => parseIndexList('--heads', '4', 4), '--heads', '4 is out of range (the model has 4)');
  expectInputError(() => parseIndexList('--heads', '1;2', 4), '--heads', "'1;2' is not an index");
  expectInputError(() => parseIndexList('--heads', ' , ', 4), '--heads', 'is empty');
});

test('ids beyond 2^53 are refused, not read as another id (found by the fuzz tier)', () => {
  assert.deepEqual(parseIds('0, 7,128255'), [0, 7, 128255]);
  expectInputError(() => parseIds('1,99999999999999999999'), '--ids', "'99999999999999999999' at position 1", 'beyond any vocabulary');
  expectInputError(() => parseIds('1,-2'), '--ids', "'-2' at position 1 is not a non-negative integer");
});

test('numbers and integers: range, empty values, integers beyond 2^53 (found by the fuzz tier)', () => {
  assert.equal(parseNumber('--top-p', '0.5', 0, 1), 0.5);
  expectInputError(() => parseNumber('--top-p', '', 0, 1), '--top-p', "'' must be a number in [0, 1]");
  expectInputError(() => parseNumber('--top-p', 'Infinity', 0), '--top-p', 'must be a number');
  assert.equal(parseInteger('--seed', '1e3', 0), 1000);
  expectInputError(() => parseInteger('--max-new-tokens', '1e300', 1), '--max-new-tokens', "'1e300' is too large");
  expectInputError(() => parseInteger('--seed', '1.5', 0), '--seed', "'1.5' must be an integer");
  expectInputError(() => parseNumber('--t', '\n', 0), '--t', "'\\n' must be a number");
});
