// The header's tenant field, and the notice when a multi-tenant server
// answered 401 for want of one.
import { useEffect, useRef, useState } from 'preact/hooks';
import { TENANT_REQUIRED, onTenantChange, setTenant, tenant } from './tenant.js';

export function useTenant() {
  const [t, setT] = useState(tenant);
  useEffect(() => onTenantChange(setT), []);
  return t;
}

export function TenantField() {
  const current = useTenant();
  const [text, setText] = useState(current);
  const [needed, setNeeded] = useState(null);
  const input = useRef(null);
  useEffect(() => setText(current), [current]);
  useEffect(() => {
    const on = (e) => {
      setNeeded(e.detail || 'this server needs a tenant');
      input.current?.focus();
    };
    window.addEventListener(TENANT_REQUIRED, on);
    return () => window.removeEventListener(TENANT_REQUIRED, on);
  }, []);
  const commit = () => {
    if (text.trim() !== current) setNeeded(null);
    setTenant(text);
  };
  return (
    <div class="tenant">
      <input
        ref={input}
        id="tenant"
        class={needed ? 'tenant-input needed' : 'tenant-input'}
        aria-label="Tenant (X-Scope-OrgID)"
        aria-invalid={needed ? 'true' : undefined}
        aria-describedby={needed ? 'tenant-needed' : undefined}
        placeholder="Tenant"
        title="Tenant sent as X-Scope-OrgID (for strata run --multi-tenant)"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
        size={10}
        spellcheck={false}
        autocomplete="off"
      />
      {needed && (
        <div class="tenant-needed" id="tenant-needed" role="alert" data-testid="tenant-needed">
          {current ? `The server refused tenant "${current}".` : 'This server is multi-tenant: enter the tenant to act for (sent as X-Scope-OrgID).'}
          <span class="muted small tenant-reason">Server: {needed}</span>
        </div>
      )}
    </div>
  );
}
