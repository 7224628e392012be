/** The Sabot icon of the sidebar's tab. */
import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 4h18v4H3zM3 10h18v4H3zM3 16h18v4H3z" opacity=".35"/>
    <circle cx="7" cy="6" r="1.6"/><circle cx="7" cy="12" r="1.6"/><circle cx="7" cy="18" r="1.6"/>
    <path d="M11 5h8v2h-8zM11 11h8v2h-8zM11 17h8v2h-8z"/>
  </g>
</svg>`;

export const sabotIcon = new LabIcon({ name: 'sabot-lab:sabot', svgstr: svg });
