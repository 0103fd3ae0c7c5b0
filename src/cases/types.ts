import type { Edition } from '../spec/requirements.js';

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** A user alias, 'none' or 'invalid'. */
  auth: string;
  json?: unknown;
  raw?: string;
  raw_base64?: string;
  content_type?: string;
}

export interface ListCheck {
  at: string;
  exactly?: unknown[];
  includes?: unknown[];
  excludes?: unknown[];
}

export interface Expectation {
  requirement: string;
  status?: number | number[];
  errcode?: string | string[];
  body?: unknown;
  body_includes?: unknown;
  schema?: string;
  list?: ListCheck;
  line: number;
}

export interface Step {
  title: string;
  request: RequestSpec;
  expect: Expectation[];
  capture: Record<string, string>;
  line: number;
}

export interface Case {
  id: string;
  title: string;
  edition: Edition;
  requirements: string[];
  tags: string[];
  users: string[];
  steps: Step[];
  /** Path relative to the package root (or as given), for reports. */
  file: string;
  line: number;
}

export interface Suite {
  cases: Case[];
  templates: Record<Edition, Record<string, unknown>>;
}
