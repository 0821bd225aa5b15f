/** The dashboard's icon, served as `dashboard/favicon.svg` (a shield, the tokenwarden mark). */
export const DASHBOARD_FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#4f46e5" d="M12 2 3 6v6c0 5 3.8 9.3 9 10 5.2-.7 9-5 9-10V6l-9-4Z"/><path fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round" d="M8 12.5h8M8 9h8M8 16h5"/></svg>
`;
