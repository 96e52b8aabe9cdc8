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

  it('reads a root a context computes on read, and below the root only values\' own properties', () => {
    let computed = 0;
    const lazy = new (class {
      readonly data = { replicas: 3 };
      get resource() {
        computed += 1;
        return { labels: { team: 'a' } };
      }
    })();
    expect(computed).toBe(0);
    expect(renderTemplates('team {{ resource.labels.team }}, {{ data.replicas }}', lazy)).toBe('team a, 3');
    expect(computed).toBe(1);
    expect(() => renderTemplates('{{ data.constructor }}', lazy)).toThrow('"{{ data.constructor }}" has no value: data has no "constructor"');
    expect(() => renderTemplates('{{ namespace.name }}', lazy)).toThrow('has no value: the template context has no "namespace"');
  });
});
