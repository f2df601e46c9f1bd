import { runService } from '../../core/service-host.ts';
import { startSupplierBridge } from './service.ts';

await runService('supplier-bridge', { port: 9101 }, startSupplierBridge);
