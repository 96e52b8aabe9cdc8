import { describe, expect, it } from 'vitest';
import { CanopyError, inBackground, messageOf } from './errors.js';

class ExampleError extends CanopyError {
  constructor(message: string, cause?: unknown) {
    super('example', message, { cause });
  }
}

describe('CanopyError', () => {
  it('carries a code, the cause it wraps, and its own class name', () => {
    const cause = new Error('connection refused');
    const error = new ExampleError('the store did not answer', cause);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('example');
    expect(error.cause).toBe(cause);
    expect(error.name).toBe('ExampleError');
    expect(String(error)).toBe('ExampleError: the store did not answer');
  });
});

describe('messageOf', () => {
  it('reads an Error’s message, and anything else thrown as text', () => {
    expect(messageOf(new TypeError('bad'))).toBe('bad');
    expect(messageOf('a string')).toBe('a string');
    expect(messageOf(42)).toBe('42');
    expect(messageOf(undefined)).toBe('undefined');
  });
});

describe('inBackground', () => {
  it('hands a rejection to its report instead of leaving it unhandled', async () => {
    const reported: unknown[] = [];
    const failure = new Error('the watch could not be opened');
    inBackground(Promise.reject(failure), (error) => reported.push(error));
    inBackground(Promise.resolve('fine'), (error) => reported.push(error));
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toEqual([failure]);
  });
});
