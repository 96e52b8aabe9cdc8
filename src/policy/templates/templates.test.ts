import { describe, expect, it } from 'vitest';
import { checkTemplates, parseTemplatePath, renderTemplates, TemplateError } from './templates.js';

const context = {
  request: { namespace: 'team-a', userInfo: { groups: ['a', 'b'] } },
  namespace: { labels: { 'canopy.io/region': 'eu-west-1' } },
  data: { limits: { cpu: '2' }, replicas: 3 },
};

describe('templates', () => {
  it('parses dotted and bracketed paths', () => {
    expect(parseTemplatePath('namespace.labels["canopy.io/region"]')).toEqual(['namespace', 'labels', 'canopy.io/region']);
    expect(parseTemplatePath("data['a.b'][0].c")).toEqual(['data', 'a.b', '0', 'c']);
  });

  it('replaces a whole-string template by the value itself, and an inline one by its text', () => {
    expect(renderTemplates('{{ data.limits }}', context)).toEqual({ cpu: '2' });
    expect(renderTemplates('{{data.replicas}}', context)).toBe(3);
    expect(renderTemplates('region-{{ namespace.labels["canopy.io/region"] }}', context)).toBe('region-eu-west-1');
    expect(renderTemplates({ a: ['{{ request.namespace }}'] }, context)).toEqual({ a: ['team-a'] });
    expect(renderTemplates('{{ request.namespace }}/{{ data.replicas }}', context)).toBe('team-a/3');
  });

  it('says which value is missing', () => {
    expect(() => renderTemplates('{{ namespace.labels.team }}', context)).toThrow('namespace.labels has no "team"');
    expect(renderTemplates('groups: {{ request.userInfo.groups }}', context)).toBe('groups: a, b');
    expect(renderTemplates('none: {{ data.empty }}', { ...context, data: { empty: [] } })).toBe('none: none');
    expect(() => renderTemplates('x-{{ data.limits }}', context)).toThrow('is a map and cannot be part of a text');
  });

  it('refuses unknown roots and bad syntax at load time', () => {
    expect(() => checkTemplates({ a: '{{ env.HOME }}' })).toThrow(TemplateError);
    expect(() => checkTemplates('{{ data..x }}')).toThrow(/expected a path/);
    expect(() => checkTemplates('{{ data.x }} and {{ object.metadata.name }}')).not.toThrow();
  });
});
